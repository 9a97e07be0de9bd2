"""``create_app``: the FastAPI app behind ``facefile serve``.

Pages are server-rendered HTML (Jinja2, autoescaped) enhanced with htmx:
every form is a plain POST that also works without JavaScript, and lists
load in pages as the user scrolls. See :mod:`facefile.web.security` for the
rules every request passes through.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from facefile.api import Location
from facefile.errors import FacefileError, NotFoundError
from facefile.web import routes_faces, routes_people, routes_review, routes_unassigned
from facefile.web.render import STATIC, render
from facefile.web.security import Guard
from facefile.web.state import WebState


def create_app(
    library_path: str | os.PathLike[str] | Location,
    *,
    token: str | None = None,
    settings: Mapping[str, object] | None = None,
) -> FastAPI:
    """The web app for one library.

    Args:
        library_path: an existing library: a folder or a ``postgresql://`` URL.
        token: access token every request must carry (cookie, set once via
            ``?token=``); ``None`` serves loopback Host names only.
        settings: ``{"section.key": value}`` overrides, as for ``Library``.

    Raises:
        LibraryError: no library at ``library_path``.
    """
    web = WebState(library_path, settings, token)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        web.close()

    app = FastAPI(title="facefile", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.web = web
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (routes_people, routes_faces, routes_unassigned, routes_review):
        app.include_router(module.router)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> HTMLResponse:
        return render(request, "error.html", status_code=404, title="Not found", message=str(exc))

    @app.exception_handler(FacefileError)
    async def refused(request: Request, exc: FacefileError) -> HTMLResponse:
        return render(request, "error.html", status_code=400, title="Cannot do that", message=str(exc))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    app.add_middleware(Guard, csrf=web.csrf, token=token)  # type: ignore[arg-type]
    return app
