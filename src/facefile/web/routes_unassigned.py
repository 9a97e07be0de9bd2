"""Faces that belong to nobody yet, grouped by similarity, to name or add to a person."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from facefile.web.render import is_htmx, render, state
from facefile.web.routes_faces import move_selected

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
    reader = s.reader()
    # a face of a video carries its mark and time, as on a person's page
    spans = {fid: f.span for row in page for fid in row["shown"] if (f := reader.face(fid)).span is not None}
    context = {
        "page": page,
        "spans": spans,
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
    offset = str(form.get("offset", "0"))
    return move_selected(
        request,
        f"/unassigned?offset={int(offset) if offset.isdigit() else 0}",
        [int(v) for v in form.getlist("face") if str(v).isdigit()],
        str(form.get("action", "")),
        str(form.get("target", "")).strip(),
        name=str(form.get("name", "")),
    )
