"""The people grid and the person page, with the edits made there."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from facefile.errors import FacefileError, NotFoundError
from facefile.types import Person, person_key
from facefile.web.render import back, is_htmx, render, state
from facefile.web.routes_faces import move_selected

router = APIRouter()
PEOPLE_PAGE = 60
FACES_PAGE = 120
SORTS = {"attention": "Unnamed first", "largest": "Largest first", "name": "Name A–Z"}
SHOWS = {"visible": "Visible", "hidden": "Hidden", "all": "All"}


def _int(value: str | None, default: int = 0) -> int:
    try:
        return max(int(value or default), 0)
    except ValueError:
        return default


def select_people(people: list[Person], q: str, show: str, sort: str) -> list[Person]:
    """Filter by name or id text and by hidden state, then sort."""
    needle = q.strip().casefold()
    rows = [
        p for p in people
        if (show == "all" or p.is_hidden == (show == "hidden"))
        and (not needle or needle in (p.name or "").casefold() or needle in p.key)
    ]  # fmt: skip
    if sort == "name":
        rows.sort(key=lambda p: (p.name is None, (p.name or "").casefold(), -p.n_faces))
    elif sort == "attention":
        rows.sort(key=lambda p: (p.name is not None, -p.n_faces, p.id))
    return rows  # "largest": the store's order already


@router.get("/", response_class=HTMLResponse)
def people_grid(request: Request) -> HTMLResponse:
    s = state(request)
    qp = request.query_params
    q = qp.get("q", "")[:200]
    show = qp.get("show", "visible") if qp.get("show") in SHOWS else "visible"
    sort = qp.get("sort", "attention") if qp.get("sort") in SORTS else "attention"
    offset = _int(qp.get("offset"))
    everyone = s.people()
    rows = select_people(everyone, q, show, sort)
    context = {
        "people": rows[offset : offset + PEOPLE_PAGE],
        "total": len(rows),
        "offset": offset,
        "next_offset": offset + PEOPLE_PAGE if offset + PEOPLE_PAGE < len(rows) else None,
        "q": q, "show": show, "sort": sort, "sorts": SORTS, "shows": SHOWS,
        "n_hidden": sum(p.is_hidden for p in everyone),
    }  # fmt: skip
    if is_htmx(request) and qp.get("fragment"):
        return render(request, "_people_cards.html", **context)
    return render(request, "people.html", nav="people", stats=s.reader().stats(), **context)


def _person_or_404(request: Request, person_id: int) -> Person:
    p = state(request).person(person_id)
    if p is None:
        raise NotFoundError(f"No person {person_key(person_id)} in this library; it may have been merged.")
    return p


@router.get("/person/{person_id}", response_class=HTMLResponse)
def person_page(request: Request, person_id: int) -> HTMLResponse:
    s = state(request)
    p = _person_or_404(request, person_id)
    offset = _int(request.query_params.get("offset"))
    # Store.faces, not Library.faces: the person is known to exist (cached list), and
    # Library.person_id re-checks it through a full people() aggregate (~0.2 s at 100k faces).
    faces = s.reader().store.faces(person_id=person_id, limit=FACES_PAGE, offset=offset)
    context = {
        "person": p,
        "faces": faces,
        "offset": offset,
        "next_offset": offset + FACES_PAGE if offset + FACES_PAGE < p.n_faces else None,
    }
    if is_htmx(request) and request.query_params.get("fragment"):
        return render(request, "_face_tiles.html", **context)
    named = sorted((x for x in s.people() if x.name and x.id != person_id), key=lambda x: x.label.casefold())
    return render(request, "person.html", nav="people", named=named, **context)


@router.get("/person/{person_id}/similar", response_class=HTMLResponse)
def similar_people(request: Request, person_id: int) -> HTMLResponse:
    s = state(request)
    p = _person_or_404(request, person_id)
    found = s.similar().likely_same(person_id, k=6)
    candidates = [(s.person(pid), sim) for pid, sim in found]
    return render(request, "_similar.html", person=p, candidates=[(c, v) for c, v in candidates if c])


async def _form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    return {k: [str(v) for v in form.getlist(k)] for k in form}


def _face_ids(form: dict[str, list[str]]) -> list[int]:
    return [int(v) for v in form.get("face", []) if v.isdigit()]


@router.post("/person/{person_id}/name")
async def rename(request: Request, person_id: int) -> RedirectResponse:
    form = await _form(request)
    new = form.get("name", [""])[0].strip()[:200]
    url = f"/person/{person_id}"
    try:
        p = state(request).write(lambda lib: lib.name(person_id, new or None))
    except FacefileError as exc:
        return back(request, url, str(exc), "error")
    if not p.name:
        return back(request, url, f"{p.key} has no name now.")
    return back(request, url, f"{p.key} is now {p.name}: naming confirmed its {p.n_confirmed} faces.")


@router.post("/person/{person_id}/merge")
async def merge(request: Request, person_id: int) -> RedirectResponse:
    form = await _form(request)
    other = form.get("other", [""])[0].strip()
    url = f"/person/{person_id}"
    if not other:
        return back(request, url, "Choose the person to merge into this one.", "error")
    try:
        p = state(request).write(lambda lib: lib.merge(other, person_id))
    except FacefileError as exc:
        return back(request, url, str(exc), "error")
    return back(request, url, f"Merged {other} into {p.label}: {p.n_faces} faces now.")


@router.post("/person/{person_id}/hide")
async def hide(request: Request, person_id: int) -> RedirectResponse:
    form = await _form(request)
    is_hidden = form.get("hidden", ["1"])[0] == "1"
    url = f"/person/{person_id}"
    try:
        state(request).write(lambda lib: lib.hide(person_id, is_hidden=is_hidden))
    except FacefileError as exc:
        return back(request, url, str(exc), "error")
    return back(request, url, "Hidden from the people grid." if is_hidden else "Visible again.")


@router.post("/person/{person_id}/xmp")
async def write_xmp(request: Request, person_id: int) -> RedirectResponse:
    """Write the names of this person's photos to XMP sidecars (``facefile xmp write PERSON``)."""
    url = f"/person/{person_id}"
    try:
        s = state(request).write(lambda lib: lib.write_xmp([person_id]))
    except FacefileError as exc:
        return back(request, url, str(exc), "error")
    text = f"{s.photos} photos: wrote {s.written} XMP sidecars, {s.unchanged} already up to date."
    if s.problems:
        path, reason = s.problems[0]
        more = f" (and {len(s.problems) - 1} more)" if len(s.problems) > 1 else ""
        return back(request, url, f"{text} Not written: {path}: {reason}{more}", "error")
    return back(request, url, text)


@router.get("/person/{person_id}/forget", response_class=HTMLResponse)
def forget_confirm(request: Request, person_id: int) -> HTMLResponse:
    p = _person_or_404(request, person_id)
    return render(request, "forget.html", nav="people", person=p)


@router.post("/person/{person_id}/forget")
async def forget(request: Request, person_id: int) -> RedirectResponse:
    form = await _form(request)
    if form.get("confirm", [""])[0] != "erase":
        return back(request, f"/person/{person_id}/forget", "Tick the box to confirm.", "error")
    try:
        what = _person_or_404(request, person_id).label
        n = state(request).write(lambda lib: lib.forget(person_id))
    except FacefileError as exc:
        return back(request, f"/person/{person_id}", str(exc), "error")
    return back(request, "/", f"Erased {what}: {n} faces with their embeddings and crops.")


@router.post("/person/{person_id}/faces")
async def person_faces(request: Request, person_id: int) -> RedirectResponse:
    """Move the selected faces to another or a new person, or mark them not this person."""
    form = await _form(request)
    return move_selected(
        request,
        f"/person/{person_id}",
        _face_ids(form),
        form.get("action", [""])[0],
        form.get("target", [""])[0].strip(),
        of=person_id,
    )
