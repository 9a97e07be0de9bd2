"""The review queue: one question at a time, answered with y / n / s."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from facefile.errors import FacefileError
from facefile.types import ReviewItem
from facefile.web.render import back, render, state

router = APIRouter()
SAMPLE_FACES = 8


@router.get("/review", response_class=HTMLResponse)
def review(request: Request) -> HTMLResponse:
    s = state(request)
    q = s.review_queue()
    item = q.items[q.position] if q.is_ready and q.position < len(q.items) else None
    context: dict[str, object] = {"q": q, "item": item}
    if item is not None:
        store = s.reader().store  # Store.faces: no full people() check per call
        context["person"] = s.person(item.person_id)
        context["person_faces"] = [f.id for f in store.faces(person_id=item.person_id, limit=SAMPLE_FACES)]
        if item.other_person_id is not None:
            context["other"] = s.person(item.other_person_id)
            other = store.faces(person_id=item.other_person_id, limit=SAMPLE_FACES)
            context["other_faces"] = [f.id for f in other]
    partial = request.headers.get("hx-request") == "true" and request.query_params.get("fragment")
    return render(request, "_review_item.html" if partial else "review.html", nav="review", **context)


@router.post("/review")
async def answer(request: Request) -> RedirectResponse:
    form = await request.form()
    s = state(request)
    q = s.review_queue()
    reply = str(form.get("answer", ""))
    if str(form.get("position", "")) != str(q.position) or q.position >= len(q.items):
        return back(request, "/review", "That question was already answered.", "error")
    item: ReviewItem = q.items[q.position]
    q.position += 1
    if reply not in ("y", "n"):
        q.skipped += 1
        return back(request, "/review")
    try:
        s.write(lambda lib: lib.answer(item, is_same=reply == "y"))
    except FacefileError as exc:
        return back(request, "/review", f"Not kept: {exc}", "error")
    q.answered += 1
    return back(request, "/review")


@router.post("/review/refresh")
async def refresh(request: Request) -> RedirectResponse:
    state(request).review_queue(refresh=True)
    return back(request, "/review")


@router.post("/regroup")
async def regroup(request: Request) -> RedirectResponse:
    """Regroup every face now; answers and edits are kept as constraints."""
    s = state(request)
    try:
        g = s.write(lambda lib: lib.regroup())
    except FacefileError as exc:
        return back(request, "/review", str(exc), "error")
    s.review_queue(refresh=True)
    return back(request, "/", f"Regrouped {g.faces} faces into {g.people} people ({g.new_people} new).")
