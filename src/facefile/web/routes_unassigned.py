"""Faces that belong to nobody yet, grouped by similarity, to name or add to a person."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from facefile.errors import FacefileError
from facefile.web.render import back, is_htmx, render, state

router = APIRouter()
GROUPS_PAGE = 12
FACES_SHOWN = 24


@router.get("/unassigned", response_class=HTMLResponse)
def unassigned(request: Request) -> HTMLResponse:
    s = state(request)
    try:
        offset = max(int(request.query_params.get("offset", "0")), 0)
    except ValueError:
        offset = 0
    index = s.similar()
    groups = index.unassigned_groups()
    page = []
    for g in groups[offset : offset + GROUPS_PAGE]:
        like = index.looks_like(g)
        page.append({"group": g, "shown": g.face_ids[:FACES_SHOWN], "rest": g.face_ids[FACES_SHOWN:],
                     "like": like, "closest": s.person(like.person_id) if like else None})  # fmt: skip
    context = {
        "page": page,
        "offset": offset,
        "n_groups": len(groups),
        "n_faces": sum(len(g.face_ids) for g in groups),
        "next_offset": offset + GROUPS_PAGE if offset + GROUPS_PAGE < len(groups) else None,
    }
    if is_htmx(request) and request.query_params.get("fragment"):
        return render(request, "_groups.html", **context)
    named = sorted((p for p in s.people() if p.name), key=lambda p: p.label.casefold())
    return render(request, "unassigned.html", nav="unassigned", named=named, **context)


@router.post("/unassigned")
async def assign_group(request: Request) -> RedirectResponse:
    """Name a group (a new person) or add it to an existing person."""
    form = await request.form()
    ids = [int(v) for v in form.getlist("face") if str(v).isdigit()]
    action = str(form.get("action", ""))
    name = str(form.get("name", "")).strip()[:200]
    target = str(form.get("target", "")).strip()
    offset = str(form.get("offset", "0"))
    url = f"/unassigned?offset={int(offset) if offset.isdigit() else 0}"
    if not ids:
        return back(request, url, "Select one or more faces first.", "error")
    s = state(request)
    try:
        if action == "name" and name:
            p = s.write(lambda lib: lib.name(lib.move(ids, "new").id, name))
        elif action == "add" and target:
            p = s.write(lambda lib: lib.move(ids, target))
        else:
            return back(request, url, "Type a name, or the person to add these faces to.", "error")
    except FacefileError as exc:
        return back(request, url, str(exc), "error")
    return back(request, url, f"{len(ids)} face(s) are now {p.label} ({p.key}).")
