"""Camera RAW files (DNG, CR2, CR3, NEF, ARW, ...) through LibRaw (rawpy).

Every RAW photo is given in one frame: the *oriented full image*, the size
LibRaw's ``postprocess()`` returns with its default flip (``raw.sizes`` width
and height, swapped for a quarter turn). A face box therefore means the same
pixels in facefile, in a sidecar and in a RAW editor, whichever way the
pixels were obtained:

* the camera's embedded preview, when it is at least half the full size and
  has the same aspect ratio (within 2%): decoded, turned by the RAW's
  orientation and resized to the full size. Cheap (a JPEG decode).
* otherwise the RAW data itself, demosaiced by LibRaw (see :data:`_DECODE`).

The preview's own EXIF orientation is ignored: LibRaw's ``sizes.flip``
describes the preview too, and LibRaw sometimes hands previews over with an
EXIF block of its own, so honouring both would turn the picture twice.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from facefile.errors import MediaError
from facefile.types import RGBImage

if TYPE_CHECKING:
    import rawpy
    from PIL import Image

# Formats LibRaw 0.22 (inside rawpy 0.28's wheels) lists as supported, by the
# extensions cameras give them (.raw: older Panasonic and Leica; .cap/.eip:
# Phase One; .bay: Casio; .k25/.kc2/.dc2: Kodak; .gpr: GoPro). LibRaw reads
# the content, not the name: a file that is no RAW gets its one-line reason.
RAW_EXTENSIONS = frozenset(
    {
        ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
        ".rw2", ".rwl", ".raw", ".pef", ".ptx", ".srw", ".3fr", ".fff", ".erf", ".kdc", ".dcr",
        ".k25", ".kc2", ".mrw", ".mef", ".mos", ".mdc", ".x3f", ".iiq", ".cap", ".bay", ".gpr",
        ".ari", ".cs1", ".sti", ".pxn", ".qtk",
    }
)  # fmt: skip

# No camera stores fewer than this many bits per pixel of RAW data (lossy
# compressed RAWs keep 4 or more): a file smaller than that for the image
# its header describes holds no image data (a damaged header, or a metadata
# sample with the pixels stripped).
_MIN_BITS_PER_PIXEL = 1

# A preview stands in for the RAW when its long side is at least this share of
# the full image's, and its aspect ratio is within _ASPECT_TOLERANCE of it (a
# preview of another crop would put every face box in the wrong place).
_MIN_PREVIEW_SHARE = 0.5
_ASPECT_TOLERANCE = 0.02

# LibRaw ``sizes.flip`` -> the EXIF orientation it stands for (LibRaw reads
# EXIF 1..8 as flip 0,1,3,2,4,6,7,5; 3 = 180, 5 = 90 CCW, 6 = 90 CW).
_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}

# postprocess() options, chosen for finding faces rather than for beauty:
# - use_camera_wb: the white balance the photographer saw on the camera;
# - no_auto_bright + sRGB gamma: brightness depends on the exposure only, not
#   on what else is in the frame (auto-bright stretches a dark photo with a
#   lamp in it differently from one without), and mid-grey lands near where
#   a camera JPEG puts it;
# - highlight clip (LibRaw's default): no pink highlights;
# - half_size, then resized to the full frame: one pixel per 2x2 Bayer
#   block, no demosaicing; about 4x faster and lighter than AHD, and face
#   detectors work on downscaled images anyway.
_DECODE: dict[str, Any] = {
    "use_camera_wb": True,
    "no_auto_bright": True,
    "gamma": (2.4, 12.92),
    "output_bps": 8,
    "half_size": True,
}


@dataclass(frozen=True)
class _Frame:
    """The full image as LibRaw describes it."""

    sensor_width: int  # before orientation
    sensor_height: int
    flip: int

    @property
    def is_quarter_turn(self) -> bool:
        return bool(self.flip & 4)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the oriented full image."""
        if self.is_quarter_turn:
            return self.sensor_height, self.sensor_width
        return self.sensor_width, self.sensor_height


def is_raw(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a camera RAW extension (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in RAW_EXTENSIONS


def raw_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Width and height of the oriented full image, read from the header only.

    Raises:
        MediaError: the file cannot be opened as a RAW file.
    """
    display = check_file(path)
    with _open(path, display) as raw:
        return _frame(raw).size


def raw_orientation(path: str | os.PathLike[str]) -> int:
    """The EXIF orientation, 1..8, that LibRaw turns the full image by (from the header only).

    Raises:
        MediaError: the file cannot be opened as a RAW file.
    """
    display = check_file(path)
    with _open(path, display) as raw:
        return _FLIP_TO_EXIF[_frame(raw).flip]


def load_raw(path: str | os.PathLike[str], max_megapixels: float) -> RGBImage:
    """Decode a RAW photo into RGB pixels of the oriented full image.

    Args:
        path: the file.
        max_megapixels: RAW images larger than this are refused before
            anything is decoded.

    Returns:
        ``uint8 (height, width, 3)``, ``(width, height)`` being
        :func:`raw_size`.

    Raises:
        MediaError: the file is empty, not a RAW file LibRaw reads,
            truncated, corrupt or too large; ``reason`` says which.
    """
    display = check_file(path)
    _one_openmp_thread()
    with _open(path, display) as raw:
        frame = _frame(raw)
        width, height = frame.size
        if width <= 0 or height <= 0:
            raise MediaError(display, "no image data in this RAW (LibRaw found no image in it)")
        missing = _missing_data(raw, os.path.getsize(path))
        if width * height > max_megapixels * 1_000_000:
            if missing:
                raise MediaError(display, missing)  # a damaged header, not a big photo
            raise MediaError(
                display,
                f"RAW image is {width}x{height} ({width * height / 1e6:.0f} megapixels), above the "
                f"{max_megapixels:g} MP limit (raise --max-megapixels to scan it)",
            )
        pixels = _from_preview(raw, frame, max_megapixels, os.path.getsize(path))
        if pixels is not None and int(pixels.min()) == int(pixels.max()):
            pixels = None  # one flat colour: a placeholder, or a blank RAW; the RAW data decides
        if pixels is None:
            if missing:
                raise MediaError(display, missing)
            pixels = _from_raw_data(raw, frame, display)
    return pixels


def _missing_data(raw: rawpy.RawPy, file_bytes: int) -> str | None:
    """Why the file cannot hold the RAW data its header describes, or None if it can."""
    sizes = raw.sizes
    width, height = max(sizes.raw_width, sizes.width), max(sizes.raw_height, sizes.height)
    if file_bytes * 8 >= width * height * _MIN_BITS_PER_PIXEL:
        return None
    return (
        f"no image data in this RAW (its header describes a {width}x{height} image, which its "
        f"{file_bytes:,} bytes cannot hold: pixels stripped, the file cut short, or a damaged header)"
    )


def check_file(path: str | os.PathLike[str]) -> str:
    """The file's display path, once it is known to exist, hold bytes and be readable.

    Raises:
        MediaError: it cannot be read, is empty, or its read access is denied.
    """
    display = os.fsdecode(os.fspath(path))
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise MediaError(display, f"cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise MediaError(display, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise MediaError(display, "permission denied (check the file's read access)")
    return display


def _open(path: str | os.PathLike[str], display: str) -> rawpy.RawPy:
    """An opened (header parsed, nothing decoded) LibRaw handle."""
    import rawpy

    # not rawpy.imread, which warns in forked workers: _one_openmp_thread makes forking safe
    raw = rawpy.RawPy()
    name = os.fsdecode(os.fspath(path))
    try:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            # rawpy passes names to LibRaw as UTF-8; other bytes go in memory
            with open(path, "rb") as f:
                raw.open_buffer(f)
        else:
            raw.open_file(name)
    except (rawpy.LibRawFileUnsupportedError, rawpy.LibRawIOError):
        raw.close()
        # LibRaw says "I/O error" for short files, "unsupported" for others.
        raise MediaError(
            display,
            "not a RAW file LibRaw can read (another format, an unsupported camera, or a damaged header)",
        ) from None
    except rawpy.LibRawError as exc:
        raw.close()
        raise MediaError(display, f"cannot open RAW file ({_libraw_message(exc)})") from None
    except OSError as exc:
        raw.close()
        raise MediaError(display, f"cannot read file ({exc.strerror or exc})") from None
    return raw


def _frame(raw: rawpy.RawPy) -> _Frame:
    sizes = raw.sizes
    width, height = sizes.width, sizes.height
    # LibRaw stretches non-square pixels (a few old Nikon and Fuji cameras).
    if sizes.pixel_aspect > 1:
        width = int(width * sizes.pixel_aspect + 0.5)
    elif 0 < sizes.pixel_aspect < 1:
        height = int(height / sizes.pixel_aspect + 0.5)
    return _Frame(width, height, sizes.flip if sizes.flip in _FLIP_TO_EXIF else 0)


def _from_preview(raw: rawpy.RawPy, frame: _Frame, max_megapixels: float, file_bytes: int) -> RGBImage | None:
    """The embedded preview in the full frame, or None if there is no usable one."""
    import rawpy
    from PIL import Image

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, MemoryError):
        return None  # none, or in a format LibRaw does not hand over
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, corrupt-EXIF notes
            if thumb.format == rawpy.ThumbFormat.JPEG:
                image = Image.open(io.BytesIO(thumb.data))
            else:
                data = np.asarray(thumb.data)
                if data.nbytes > file_bytes or not _preview_fits(
                    (data.shape[1], data.shape[0]), frame, max_megapixels
                ):
                    # An uncompressed preview is stored as is, so it cannot be bigger
                    # than the file: LibRaw was handed damaged dimensions, and its
                    # buffer is smaller than they say (reading it crashed the process).
                    return None
                image = _bitmap(data)
            if not _preview_fits(image.size, frame, max_megapixels):
                return None
            image.load()
            return _orient_and_fit(image.convert("RGB"), frame)
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError):
        return None  # a damaged preview: decode the RAW data instead
    except Image.DecompressionBombError:
        return None


def _bitmap(data: np.ndarray) -> Image.Image:
    from PIL import Image

    if data.dtype != np.uint8:
        data = (data.astype(np.float32) * (255.0 / max(float(data.max()), 1.0))).astype(np.uint8)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[..., 0]
    return Image.fromarray(np.ascontiguousarray(data))


def _preview_fits(size: tuple[int, int], frame: _Frame, max_megapixels: float) -> bool:
    """Whether a preview of ``size`` (as stored, unrotated) can stand for the full image."""
    width, height = size
    full_width, full_height = frame.sensor_width, frame.sensor_height
    if min(width, height, full_width, full_height) <= 0 or width * height > max_megapixels * 1_000_000:
        return False
    if max(width, height) < _MIN_PREVIEW_SHARE * max(full_width, full_height):
        return False
    return abs((width / height) / (full_width / full_height) - 1) <= _ASPECT_TOLERANCE


def _orient_and_fit(image: Image.Image, frame: _Frame) -> RGBImage:
    from PIL import Image

    if image.size != (frame.sensor_width, frame.sensor_height):
        image = image.resize((frame.sensor_width, frame.sensor_height), Image.Resampling.BILINEAR)
    transpose = _TRANSPOSE.get(_FLIP_TO_EXIF[frame.flip])
    if transpose is not None:
        image = image.transpose(Image.Transpose[transpose])
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


# EXIF orientation -> the PIL.Image.Transpose that displays it.
_TRANSPOSE = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


def _from_raw_data(raw: rawpy.RawPy, frame: _Frame, display: str) -> RGBImage:
    import rawpy
    from PIL import Image

    try:
        if _is_blank(raw):
            raise MediaError(display, "no image data in this RAW (every sensor value is the same)")
        pixels = raw.postprocess(**_DECODE)
    except rawpy.LibRawIOError:
        raise MediaError(display, "truncated or unreadable RAW data (the file may be cut short)") from None
    except rawpy.LibRawDataError:
        raise MediaError(display, "corrupt RAW data") from None
    except rawpy.LibRawTooBigError:
        # the image itself is within the megapixel limit (checked before): the
        # sizes LibRaw refuses come from elsewhere in the header
        raise MediaError(display, "damaged RAW header (LibRaw refuses the data size it describes)") from None
    except (rawpy.LibRawUnsufficientMemoryError, MemoryError):
        raise MediaError(display, "RAW image too large to decode in memory") from None
    except rawpy.LibRawError as exc:
        raise MediaError(display, f"cannot decode RAW data ({_libraw_message(exc)})") from None
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise MediaError(display, f"unexpected RAW pixel layout {pixels.shape} {pixels.dtype}")
    if pixels.ndim == 2 or pixels.shape[2] == 1:  # monochrome sensors
        pixels = np.repeat(pixels.reshape(pixels.shape[0], pixels.shape[1], 1), 3, axis=2)
    pixels = pixels[..., :3]
    width, height = frame.size
    if pixels.shape[:2] != (height, width):  # half_size, or LibRaw's own geometry
        pixels = np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR))
    return np.ascontiguousarray(pixels)


def _is_blank(raw: rawpy.RawPy) -> bool:
    """Whether every sensor value is the same: no photo, even of black, comes out so (noise)."""
    try:
        values = raw.raw_image_visible
    except (AttributeError, RuntimeError, ValueError):
        return False  # not a mosaic LibRaw hands over (Foveon, linear DNG): no verdict
    if values is None or values.size == 0:
        return False
    sample = values[::7, ::7]
    if int(sample.min()) != int(sample.max()):
        return False
    return int(values.min()) == int(values.max())


def _one_openmp_thread() -> None:
    """Keep LibRaw's OpenMP to the calling thread.

    rawpy's LibRaw runs in parallel with OpenMP (libgomp). Once a process has
    run a parallel region with more than one thread, children it forks
    deadlock in their first one (measured: a forked pool decoding a DNG after
    its parent did hung until killed), and the scan forks its workers. With
    one thread libgomp keeps no thread pool, so forking stays safe; the scan
    gets its parallelism from worker processes anyway. The setting belongs
    to the calling thread, hence one call per decode.
    """
    set_threads = _openmp_set_num_threads()
    if set_threads is not None:
        set_threads(1)


@functools.cache
def _openmp_set_num_threads() -> Callable[[int], None] | None:
    """``omp_set_num_threads`` of the OpenMP runtime bundled with rawpy, if any."""
    import rawpy

    libs = os.path.join(os.path.dirname(rawpy.__file__), os.pardir, "rawpy.libs")
    for name in sorted(glob.glob(os.path.join(libs, "lib*omp*"))):
        try:
            # already loaded by rawpy: dlopen hands back that same instance
            func = ctypes.CDLL(name).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        func.argtypes = [ctypes.c_int]
        func.restype = None
        return func
    return None


def _libraw_message(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return (str(text).strip() or type(exc).__name__)[:120]


__all__ = ["RAW_EXTENSIONS", "is_raw", "load_raw", "raw_size"]
