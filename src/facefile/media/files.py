"""Finding photo (and video) files and decoding photos into oriented RGB pixels.

Every failure becomes a :class:`~facefile.errors.MediaError` with one short
reason, so a scan can report the file and go on.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from facefile.errors import MediaError
from facefile.media.raw import RAW_EXTENSIONS, check_file, is_raw, load_raw, raw_size
from facefile.media.video import VIDEO_EXTENSIONS, has_decoder
from facefile.types import RGBImage

# Read by Pillow (HEIC/HEIF through pillow-heif, PSD: 8-bit composites only).
_PILLOW_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".heic", ".heif", ".hif", ".avif",
        ".tif", ".tiff", ".bmp", ".gif", ".mpo", ".pgm", ".ppm", ".pbm", ".pnm", ".jp2", ".j2k",
        ".jpf", ".jpx", ".psd",
    }
)  # fmt: skip
PHOTO_EXTENSIONS = _PILLOW_EXTENSIONS | RAW_EXTENSIONS
"""Extensions facefile decodes (lower case): Pillow's formats and camera RAW."""

# Image formats met in photo folders that facefile does not read: extension ->
# why, as shown to the user (once per format, with a count).
_UNREADABLE = {
    ".jxl": "JPEG XL (.jxl): no reader installed (Pillow here has no JPEG XL support)",
    ".svg": "SVG drawing (.svg): vector images are not read",
    ".xcf": "GIMP image (.xcf): no reader installed (export a JPEG or TIFF)",
    ".kra": "Krita image (.kra): no reader installed (export a JPEG or TIFF)",
}
DEFAULT_MAX_MEGAPIXELS = 200.0

_heif_registered = False


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
    ``.xmp``, documents) are not photos and are passed over.

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
        yield FoundFile(root_path, f"cannot open folder ({exc.strerror or exc})")
        return
    if not stat.S_ISDIR(st.st_mode):
        if _is_photo_name(root_path):
            yield _file_entry(root_path)
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
    global _heif_registered
    if not _heif_registered:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        _heif_registered = True


def load_image(path: str | os.PathLike[str], max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> RGBImage:
    """Decode a photo into RGB pixels in its EXIF orientation.

    GIFs and multi-page TIFFs give their first frame, Photoshop files their
    composite. Camera RAW files (:data:`RAW_EXTENSIONS`) go through
    :func:`facefile.media.raw.load_raw`: the oriented full image, from the
    embedded preview when it is big enough.

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
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = os.fspath(path)
    display = os.fsdecode(p)
    if is_raw(display):
        return load_raw(p, max_megapixels)
    unsupported = unsupported_reason(_extension(display))
    if unsupported is not None:
        raise MediaError(display, unsupported)
    if _extension(display) in VIDEO_EXTENSIONS:
        raise MediaError(display, "a video, not a photo (read it with facefile.media.video)")
    _register_heif()
    check_file(p)
    max_pixels = int(max_megapixels * 1_000_000)
    # Pillow's own guard (MAX_IMAGE_PIXELS, ~89 MP by default) would refuse
    # photos our limit allows, with a wrong message. It is raised (never
    # lowered) to our limit; our check below does the refusing, with the size.
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            # Decoders warn about damage they worked around (corrupt EXIF, ...);
            # the file either decodes or fails with a reason, so stay quiet.
            warnings.simplefilter("ignore")
            with Image.open(p) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise MediaError(
                        display,
                        f"image is {width}x{height} ({width * height / 1e6:.0f} megapixels), "
                        f"above the {max_megapixels:g} MP limit (raise --max-megapixels "
                        "to scan it)",
                    )
                # Image.open leaves every format at its first frame (a PSD at
                # its composite, which seek(0) would refuse).
                im.load()
                oriented = ImageOps.exif_transpose(im)
                rgb = _to_rgb(oriented if oriented is not None else im)
    except MediaError:
        raise
    except PermissionError:
        raise MediaError(display, "permission denied (check the file's read access)") from None
    except UnidentifiedImageError:
        if _extension(display) == ".psd":
            raise MediaError(
                display,
                "Photoshop file Pillow cannot read (it reads 8-bit RGB, CMYK and grey "
                "composites only; export a JPEG or TIFF)",
            ) from None
        raise MediaError(display, "not an image, or a format facefile cannot read") from None
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size_text = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise MediaError(
            display,
            f"image is {size_text}, above the {max_megapixels:g} MP limit (raise --max-megapixels "
            "to scan it)",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise MediaError(display, f"corrupt or truncated image ({_short(exc)})") from None
    except MemoryError:
        raise MediaError(display, "image too large to decode in memory") from None
    arr = np.asarray(rgb, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MediaError(display, f"unexpected pixel layout {arr.shape}")
    return np.ascontiguousarray(arr)


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Width and height in the EXIF-oriented frame, without decoding pixels.

    For RAW files, the oriented full image (:func:`facefile.media.raw.raw_size`),
    the shape :func:`load_image` returns.

    Raises:
        MediaError: a RAW file LibRaw cannot open. (Other formats raise
            Pillow's errors, as before.)
    """
    from PIL import Image

    if is_raw(path):
        return raw_size(path)
    _register_heif()
    with Image.open(os.fspath(path)) as im:
        width, height = im.size
        orientation = im.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _to_rgb(im: object) -> object:
    from PIL import Image

    assert isinstance(im, Image.Image)
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() or 1.0
        im = Image.fromarray((arr / top * 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def path_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file-system bytes of an absolute path (keeps non-UTF-8 names exact)."""
    return os.fsencode(os.path.abspath(os.fspath(path)))


def display_path(raw: bytes) -> str:
    """A printable form of a stored path (undecodable bytes escaped)."""
    return raw.decode("utf-8", errors="backslashreplace")


def is_under(raw: bytes, root: str | os.PathLike[str]) -> bool:
    prefix = path_bytes(root).rstrip(b"/") + b"/"
    return raw.startswith(prefix) or raw == prefix[:-1]


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
