"""Finding photo (and video) files and decoding photos into oriented RGB pixels.

Every failure becomes a :class:`~facefile.errors.MediaError` with one short
reason, so a scan can report the file and go on.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from facefile.errors import MediaError
from facefile.media.capture import is_end_of_file, library_output
from facefile.media.pillow import load_with_pillow, prepare_pillow
from facefile.media.raw import RAW_EXTENSIONS, check_file, is_raw, load_raw, raw_size
from facefile.media.video import VIDEO_EXTENSIONS, has_decoder
from facefile.types import RGBImage

# Read by Pillow (HEIC/HEIF through pillow-heif, PSD: 8-bit composites only):
# every extension Pillow registers a reader for, except those in
# _UNREADABLE and the scientific and video formats it only identifies.
_PILLOW_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".jps", ".png", ".apng", ".webp", ".heic", ".heif",
        ".heics", ".heifs", ".hif", ".avif", ".avifs", ".tif", ".tiff", ".bmp", ".dib", ".gif",
        ".mpo", ".pgm", ".ppm", ".pbm", ".pnm", ".pfm", ".jp2", ".j2k", ".j2c", ".jpc", ".jpf",
        ".jpx", ".psd", ".qoi", ".tga", ".icb", ".vda", ".vst", ".pcx", ".dcx", ".pcd", ".sgi",
        ".rgb", ".rgba", ".bw", ".ras", ".dds", ".blp", ".ftc", ".ftu", ".fits", ".fit", ".im",
        ".iim", ".pxr", ".msp", ".xbm", ".xpm", ".gbr", ".fli", ".flc",
    }
)  # fmt: skip
PHOTO_EXTENSIONS = _PILLOW_EXTENSIONS | RAW_EXTENSIONS
"""Extensions facefile decodes (lower case): Pillow's formats and camera RAW."""

# Image formats met in photo folders that facefile does not read: extension ->
# why, as shown to the user (once per format, with a count).
_UNREADABLE = {
    ".jxl": "JPEG XL (.jxl): no reader installed (Pillow here has no JPEG XL support)",
    ".jxr": "JPEG XR (.jxr): no reader installed (export a JPEG or TIFF)",
    ".wdp": "JPEG XR (.wdp): no reader installed (export a JPEG or TIFF)",
    ".hdp": "JPEG XR (.hdp): no reader installed (export a JPEG or TIFF)",
    ".svg": "SVG drawing (.svg): vector images are not read",
    ".emf": "Windows metafile (.emf): vector images are not read",
    ".wmf": "Windows metafile (.wmf): vector images are not read",
    ".eps": "PostScript (.eps): vector images are not read",
    ".ps": "PostScript (.ps): vector images are not read",
    ".ico": "icon (.ico): icons are not read",
    ".cur": "cursor (.cur): icons are not read",
    ".icns": "icon (.icns): icons are not read",
    ".xcf": "GIMP image (.xcf): no reader installed (export a JPEG or TIFF)",
    ".kra": "Krita image (.kra): no reader installed (export a JPEG or TIFF)",
}
DEFAULT_MAX_MEGAPIXELS = 200.0


@dataclass(frozen=True)
class FoundFile:
    """A file met while walking a folder: a photo, a problem, or an unsupported file.

    Attributes:
        path: the file (or folder, for a folder that cannot be listed).
        problem: why an entry that should be readable is not (broken link,
            loop, unreadable folder); ``None`` otherwise.
        unsupported: for an image, RAW or video file that facefile does not
            read, a short reason naming its format, the same for every file
            of that format (e.g. ``"JPEG XL (.jxl): no reader installed"``),
            so a scan can count them per reason instead of listing each.
            ``problem`` stays ``None`` for these, so callers that only
            print problems do not print one line per file; callers that
            collect photos must skip entries whose ``unsupported`` is set
            (or use :attr:`is_photo`).
    """

    path: str
    problem: str | None = None
    unsupported: str | None = None

    @property
    def is_photo(self) -> bool:
        """A photo to decode: neither a problem nor an unsupported format."""
        return self.problem is None and self.unsupported is None

    @property
    def kind(self) -> str:
        """``"photo"``, ``"problem"`` or ``"unsupported"``."""
        if self.unsupported is not None:
            return "unsupported"
        return "photo" if self.problem is None else "problem"


def iter_photo_files(root: str | os.PathLike[str]) -> Iterator[FoundFile]:
    """Walk ``root`` recursively, yielding photo files and unusable entries.

    Image and video files facefile cannot read come as
    ``FoundFile(path, unsupported=reason)``; other files (sidecars such as
    ``.xmp``, documents) are not photos and are passed over. A file named as
    ``root`` itself is never passed over: it is a photo to decode (by its
    content, whatever its extension) or a problem saying why not.

    Symbolic links to folders are followed once each; a link that leads back
    to a folder already visited is reported as a loop. Broken links and
    folders that cannot be listed are reported, never fatal. Files are
    yielded in a stable (sorted) order so interrupted scans resume the same
    way.
    """
    root_path = os.path.abspath(os.fspath(root))
    seen_dirs: set[tuple[int, int]] = set()
    try:
        st = os.stat(root_path)
    except OSError as exc:
        yield FoundFile(root_path, f"cannot open ({exc.strerror or exc})")  # a folder or a photo
        return
    if not stat.S_ISDIR(st.st_mode):
        yield _named_file(root_path, st)
        return
    seen_dirs.add((st.st_dev, st.st_ino))
    yield from _walk(root_path, seen_dirs)


def _walk(folder: str, seen_dirs: set[tuple[int, int]]) -> Iterator[FoundFile]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        yield FoundFile(folder, f"cannot list folder ({exc.strerror or exc})")
        return
    for entry in entries:
        path = entry.path
        try:
            is_link = entry.is_symlink()
            st = os.stat(path)  # follows links
        except OSError as exc:
            if is_link or os.path.islink(path):
                if _is_photo_name(path) or os.path.isdir(os.path.dirname(path)):
                    yield FoundFile(path, _link_problem(exc))
            elif _is_photo_name(path):
                yield FoundFile(path, f"cannot read file information ({exc.strerror or exc})")
            continue
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                if is_link:
                    yield FoundFile(path, "symbolic link loop (folder already scanned)")
                continue
            seen_dirs.add(key)
            yield from _walk(path, seen_dirs)
        elif stat.S_ISREG(st.st_mode) and _is_photo_name(path):
            yield _file_entry(path)


def _named_file(path: str, st: os.stat_result) -> FoundFile:
    """A file the user named: decoded if it can be, else a problem with its reason (never silent)."""
    if not stat.S_ISREG(st.st_mode):
        return FoundFile(path, "not a regular file (a pipe, device or socket)")
    reason = unsupported_reason(_extension(path))
    return FoundFile(path) if reason is None else FoundFile(path, reason)


def _link_problem(exc: OSError) -> str:
    if getattr(exc, "errno", None) == 40:  # ELOOP
        return "symbolic link loop"
    return "broken symbolic link (its target does not exist)"


def _is_photo_name(path: str) -> bool:
    """A photo, or an image or video file worth reporting as unsupported."""
    ext = _extension(path)
    return ext in PHOTO_EXTENSIONS or ext in VIDEO_EXTENSIONS or unsupported_reason(ext) is not None


def _file_entry(path: str) -> FoundFile:
    return FoundFile(path, unsupported=unsupported_reason(_extension(path)))


def _extension(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def unsupported_reason(extension: str) -> str | None:
    """Why files with ``extension`` (e.g. ``".mp4"``) are not read, or None.

    None for the photo formats facefile reads and for files that are not
    images at all (``.xmp`` sidecars, ``.txt``): only image and video
    formats get a reason.
    """
    ext = extension.lower()
    if ext in VIDEO_EXTENSIONS and not has_decoder():
        return "videos: no video decoder installed (pip install av)"  # one line for every video
    if ext == ".avif" and not _has_avif():
        return "AVIF (.avif): this Pillow has no AVIF support (upgrade Pillow)"
    return _UNREADABLE.get(ext)


@functools.cache
def _has_avif() -> bool:
    from PIL import features

    return bool(features.check("avif"))


def _register_heif() -> None:
    """Make Pillow read HEIF (and large PNG colour profiles); see :func:`prepare_pillow`."""
    prepare_pillow()


def load_image(path: str | os.PathLike[str], max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> RGBImage:
    """Decode a photo into RGB pixels in its EXIF orientation.

    GIFs and multi-page TIFFs give their first frame, Photoshop files their
    composite. Camera RAW files (:data:`RAW_EXTENSIONS`) go through
    :func:`facefile.media.raw.load_raw`: the oriented full image, from the
    embedded preview when it is big enough. What the decoders print or warn
    meanwhile is taken in (:func:`facefile.media.capture.library_output`):
    it becomes part of the reason when the file fails, and is dropped when
    the file decodes (it then says nothing the result does not).

    Args:
        path: the file.
        max_megapixels: images larger than this are refused before decoding
            (decompression-bomb guard).

    Returns:
        ``uint8 (height, width, 3)``.

    Raises:
        MediaError: the file is empty, unreadable, not an image, truncated,
            corrupt or too large; ``reason`` says which.
    """
    p = os.fspath(path)
    display = os.fsdecode(p)
    unsupported = unsupported_reason(_extension(display))
    if unsupported is not None and not is_raw(display):
        raise MediaError(display, unsupported)
    if _extension(display) in VIDEO_EXTENSIONS:
        raise MediaError(display, "a video, not a photo (read it with facefile.media.video)")
    check_file(p)
    with library_output() as out:
        if not is_raw(display):
            return load_with_pillow(p, display, max_megapixels, out)
        pixels = load_raw(p, max_megapixels)
        if is_end_of_file(out.lines()):
            # LibRaw fills what it could not read and says so only on stderr
            reason = "truncated RAW data (LibRaw: unexpected end of file; the file is cut short)"
            raise MediaError(display, reason)
        return pixels


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Width and height in the EXIF-oriented frame, without decoding pixels.

    For RAW files, the oriented full image (:func:`facefile.media.raw.raw_size`),
    the shape :func:`load_image` returns.

    Raises:
        MediaError: a RAW file LibRaw cannot open. (Other formats raise
            Pillow's errors, as before.)
    """
    from PIL import Image

    with library_output():
        if is_raw(path):
            return raw_size(path)
        prepare_pillow()
        with Image.open(os.fspath(path)) as im:
            width, height = im.size
            orientation = im.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def path_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file-system bytes of an absolute path (keeps non-UTF-8 names exact)."""
    return os.fsencode(os.path.abspath(os.fspath(path)))


def display_path(path_b: bytes) -> str:
    """A printable form of a stored path (undecodable bytes escaped)."""
    return path_b.decode("utf-8", errors="backslashreplace")


def is_under(path_b: bytes, root: str | os.PathLike[str]) -> bool:
    prefix = path_bytes(root).rstrip(b"/") + b"/"
    return path_b.startswith(prefix) or path_b == prefix[:-1]


__all__ = [
    "DEFAULT_MAX_MEGAPIXELS",
    "PHOTO_EXTENSIONS",
    "RAW_EXTENSIONS",
    "FoundFile",
    "display_path",
    "image_size",
    "is_raw",
    "is_under",
    "iter_photo_files",
    "load_image",
    "path_bytes",
    "unsupported_reason",
]
