"""The request guard: access token, Host check, CSRF and Origin checks, security headers.

It is plain ASGI middleware wrapped around the whole app, so no route can be
added without it:

* With an access token (serving beyond loopback), every request needs the
  ``facefile_token`` cookie; ``?token=`` once sets it (HttpOnly,
  SameSite=Strict) and redirects to the same URL without the token.
* Without a token the page answers only to loopback Host names, so a web
  page elsewhere cannot reach it through DNS rebinding.
* Only GET, HEAD and POST are allowed. A POST must be a small
  ``application/x-www-form-urlencoded`` form (or empty), come from this
  origin (``Origin`` / ``Sec-Fetch-Site`` when the browser sends them) and
  carry the per-process CSRF token, as the ``csrf`` form field or the
  ``X-CSRF-Token`` header (htmx sends it from ``hx-headers``). ``Origin:
  null``, which Chromium sends for plain forms under ``Referrer-Policy:
  no-referrer``, passes on the token alone.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "facefile_token"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 1_000_000
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def host_name(host: str) -> str:
    """``"[::1]:8765"`` -> ``"::1"``; ``"localhost:80"`` -> ``"localhost"``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware enforcing the rules in the module docstring.

    Args:
        app: the wrapped app.
        csrf: the per-process CSRF token.
        token: the access token, or ``None`` to serve loopback Host names only.
    """

    def __init__(self, app: ASGIApp, *, csrf: str, token: str | None) -> None:
        self.app = app
        self.csrf = csrf
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        send = _with_headers(send)
        host = headers.get("host", "")
        if self.token is None and host_name(host) not in LOOPBACK_HOSTS:
            await _plain(send, 421, "This page only answers on 127.0.0.1 / localhost.")
            return
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = query.get("token", [""])[0]
            if given and _same(given, self.token):
                rest = urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs], doseq=True)
                location = scope["path"] + (f"?{rest}" if rest else "")
                cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                await _plain(send, 303, "Signed in.", [(b"location", location.encode()),
                                                        (b"set-cookie", cookie.encode())])  # fmt: skip
                return
            if not _same(_cookie(headers.get("cookie", ""), TOKEN_COOKIE), self.token):
                await _plain(
                    send, 401, "Open the address that 'facefile serve' printed (it holds the access token)."
                )
                return
        method = scope["method"]
        if method in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if method != "POST":
            await _plain(send, 405, "Only GET and POST are used here.", [(b"allow", b"GET, HEAD, POST")])
            return
        problem = _cross_site(headers, host, scope.get("scheme", "http"))
        if problem:
            await _plain(send, 403, problem)
            return
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("", "application/x-www-form-urlencoded"):
            await _plain(send, 415, "Send a URL-encoded form.")
            return
        body, too_big = await _read_body(receive)
        if too_big:
            await _plain(send, 413, "Form too large.")
            return
        form = parse_qs(body.decode("utf-8", "replace"))
        given = headers.get(CSRF_HEADER) or form.get(CSRF_FIELD, [""])[0]
        if not _same(given, self.csrf):
            await _plain(send, 403, "Missing or wrong CSRF token: reload the page and try again.")
            return
        await self.app(scope, _replay(body, receive), send)


def _same(a: str, b: str) -> bool:
    return bool(a) and hmac.compare_digest(a.encode(), b.encode())


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _cross_site(headers: dict[str, str], host: str, scheme: str) -> str | None:
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Cross-site request refused (Sec-Fetch-Site: {site})."
    origin = headers.get("origin")
    # "null" is what Chromium sends for a plain form POST under Referrer-Policy: no-referrer;
    # the CSRF token still has to match.
    if origin not in (None, "null") and origin != f"{scheme}://{host}":
        return "Request from another origin refused."
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, upstream: Receive) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()  # why: later calls wait for the real disconnect

    return receive


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
            message["headers"] = list(message.get("headers", [])) + extra
        await send(message)

    return wrapped


async def _plain(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
