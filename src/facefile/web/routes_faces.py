"""Face crops, photos and the face page. Files are found by id only, never by a path from the URL."""

from __future__ import annotations

import io
import mimetypes
import os

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from facefile.errors import FacefileError, MediaError, NotFoundError
from facefile.media.files import load_image
from facefile.media.video import frame_at
from facefile.store.videos import is_video
from facefile.types import person_key
from facefile.web.crops import CROP_SIZES, face_crop
from facefile.web.render import back, render, state

router = APIRouter()
BROWSER_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
PHOTO_MAX_PX = 2048
MISSING_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" '
    'fill="#ddd"/><path d="M3 3l4 4M7 3l-4 4" stroke="#999" stroke-width=".6"/></svg>'
)


@router.get("/crop/{face_id}.jpg")
def crop(request: Request, face_id: int, size: int = 160) -> Response:
    if size not in CROP_SIZES:
        size = min(CROP_SIZES, key=lambda s: abs(s - size))
    try:
        path = face_crop(state(request).reader().store, face_id, size)
    except NotFoundError:
        return Response(MISSING_SVG, status_code=404, media_type="image/svg+xml")
    except MediaError:  # photo moved or unreadable: a grey placeholder, not an error page
        return Response(MISSING_SVG, media_type="image/svg+xml", headers={"cache-control": "no-store"})
    return FileResponse(path, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})


@router.get("/photo/{photo_id}")
def photo(request: Request, photo_id: int) -> Response:
    """The photo file of a library photo, by id; other formats are converted to JPEG."""
    row = state(request).reader().store.photo(photo_id)  # NotFoundError -> 404
    path = os.fsdecode(row.path)
    if row.status != "ok" or not os.path.isfile(path):
        return Response(MISSING_SVG, status_code=404, media_type="image/svg+xml")
    kind = mimetypes.guess_type(path)[0]
    headers = {"cache-control": "private, max-age=3600"}
    if kind in BROWSER_TYPES:
        return FileResponse(path, media_type=kind, headers=headers)
    from PIL import Image

    try:
        image = Image.fromarray(load_image(path))
    except MediaError:
        return Response(MISSING_SVG, status_code=404, media_type="image/svg+xml")
    image.thumbnail((PHOTO_MAX_PX, PHOTO_MAX_PX))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=88)
    return Response(buf.getvalue(), media_type="image/jpeg", headers=headers)


@router.get("/video/{photo_id}")
def video(request: Request, photo_id: int) -> Response:
    """A library video's file, by id, for the face page's player (byte ranges let it start at #t=)."""
    store = state(request).reader().store
    row = store.photo(photo_id)  # NotFoundError -> 404
    path = os.fsdecode(row.path)
    if not is_video(store, photo_id) or row.status != "ok" or not os.path.isfile(path):
        return Response("Not a video of this library, or gone from disk.", status_code=404)
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return FileResponse(path, media_type=kind, headers={"cache-control": "private, max-age=3600"})


@router.get("/frame/{face_id}.jpg")
def frame(request: Request, face_id: int) -> Response:
    """The frame of a video face (its ``t_frame``), as JPEG, at most ``PHOTO_MAX_PX``."""
    from PIL import Image

    store = state(request).reader().store
    face = store.face(face_id)  # NotFoundError -> 404
    row = store.photo(face.photo_id)
    if face.span is None:
        return Response(MISSING_SVG, status_code=404, media_type="image/svg+xml")
    try:
        pixels, _ = frame_at(row.path, face.span.t_frame, PHOTO_MAX_PX)
    except MediaError:
        return Response(MISSING_SVG, status_code=404, media_type="image/svg+xml")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=88)
    headers = {"cache-control": "private, max-age=3600"}
    return Response(buf.getvalue(), media_type="image/jpeg", headers=headers)


@router.get("/face/{face_id}", response_class=HTMLResponse)
def face_page(request: Request, face_id: int) -> HTMLResponse:
    s = state(request)
    lib = s.reader()
    face = lib.face(face_id)
    row = lib.store.photo(face.photo_id)
    siblings = lib.store.faces(photo_id=face.photo_id)
    if all(f.id != face_id for f in siblings):  # excluded faces are not listed by the store
        siblings.append(face)
    boxes = [
        {"face": f, "person": s.person(f.person_id) if f.person_id is not None else None} for f in siblings
    ]
    person = s.person(face.person_id) if face.person_id is not None else None
    named = sorted((p for p in s.people() if p.name), key=lambda p: p.label.casefold())
    return render(
        request, "face.html", nav="people", face=face, photo=row, boxes=boxes, person=person, named=named
    )


@router.get("/face/{face_id}/why", response_class=HTMLResponse)
def face_why(request: Request, face_id: int) -> HTMLResponse:
    try:
        text = state(request).reader().why(face_id).text
    except FacefileError as exc:
        text = str(exc)
    return render(request, "_why.html", text=text, face_id=face_id)


@router.post("/face/{face_id}")
async def face_action(request: Request, face_id: int) -> RedirectResponse:
    """One face: move it, put it in a new person, take it out, or keep it out of grouping."""
    form = await request.form()
    action = str(form.get("action", ""))
    target = str(form.get("target", "")).strip()
    url = f"/face/{face_id}"
    s = state(request)
    try:
        if action == "move" and target:
            p = s.write(lambda lib: lib.move([face_id], target))
            return back(request, url, f"face-{face_id} is now in {p.label}.")
        if action == "new":
            p = s.write(lambda lib: lib.move([face_id], "new"))
            return back(request, url, f"face-{face_id} is now in a new person, {p.key}.")
        if action == "not":
            s.write(lambda lib: lib.unassign(face_id))
            return back(request, url, f"face-{face_id} belongs to nobody now (remembered).")
        if action in ("exclude", "include"):
            s.write(lambda lib: lib.exclude(face_id, is_excluded=action == "exclude"))
            return back(request, url, "Kept out of grouping." if action == "exclude" else "Back in grouping.")
    except FacefileError as exc:
        return back(request, url, str(exc), "error")
    return back(request, url, "Type the person to move the face to.", "error")


def move_selected(
    request: Request,
    url: str,
    ids: list[int],
    action: str,
    target: str,
    name: str = "",
    of: int | None = None,
) -> RedirectResponse:
    """Move the faces selected on a person page or in an unassigned group; back to ``url``, saying what.

    Args:
        ids: the selected face ids.
        action: ``"new"`` (a new person, named ``name`` if given),
            ``"move"`` (to the person ``target``: an id or a name) or
            ``"not"`` (not person ``of``, remembered).
        of: the person whose page it is, for ``"not"``.
    """
    if not ids:
        return back(request, url, "Select one or more faces first.", "error")
    s = state(request)
    name = name.strip()[:200]
    try:
        if action == "not" and of is not None:
            s.write(lambda lib: lib.not_person(ids, of))
            who = s.person(of)
            return back(
                request, url, f"{len(ids)} face(s) marked as not {who.label if who else person_key(of)}."
            )
        if action == "new":
            p = s.write(lambda lib: lib.name(lib.move(ids, "new").id, name) if name else lib.move(ids, "new"))
        elif action == "move" and target:
            p = s.write(lambda lib: lib.move(ids, target))
        else:
            return back(request, url, "Type a name, or the person to move these faces to.", "error")
    except FacefileError as exc:
        return back(request, url, str(exc), "error")
    return back(request, url, f"Moved {len(ids)} face(s) to {p.label} ({p.key}).")
