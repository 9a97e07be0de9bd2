"""Shared helpers of the route modules: templates, the app state, redirects with a note."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from facefile.types import Person, clock, face_key, person_key
from facefile.web.state import WebState

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Autoescape on for every template; names and paths are never marked safe.
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)
env.globals["person_key"] = person_key
env.globals["face_key"] = face_key
env.globals["clock"] = clock


def state(request: Request) -> WebState:
    return request.app.state.web  # type: ignore[no-any-return]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


def render(request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    s = state(request)
    note = s.take_note(request.query_params.get("note"))
    html = env.get_template(template).render(
        request=request,
        csrf=s.csrf,
        note=note,
        nav=context.pop("nav", ""),
        stats=context.pop("stats", None),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})


def back(request: Request, url: str, text: str | None = None, kind: str = "ok") -> RedirectResponse:
    """Redirect (303) to one of our own pages, with a one-shot note."""
    if not url.startswith("/") or url.startswith("//"):
        url = "/"
    if text:
        url += ("&" if "?" in url else "?") + "note=" + quote(state(request).note(text, kind))
    return RedirectResponse(url, status_code=303)


def label(p: Person | None, person_id: int | None = None) -> str:
    if p is not None:
        return p.label
    return person_key(person_id) if person_id is not None else "nobody"


env.globals["label"] = label
