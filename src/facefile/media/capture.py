"""What decoders say while they work: captured, so each file gets facefile's one line.

LibRaw, libtiff and libjpeg write their complaints straight to the process's
standard error (file descriptor 2: "Unexpected end of file", "WEBP
compression support is not configured"), and Pillow warns through Python's
:mod:`warnings` ("Corrupt EXIF data"). Printed as they come, these lines land
in the middle of a scan's output, without the file's name or the outcome.
:func:`library_output` takes them for the length of one decode, so the
caller can turn them into the file's reason (or drop them when the file
decoded and they say nothing new).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

# fd 2 belongs to the whole process: one capture at a time. A thread that
# finds it taken decodes without capturing rather than waiting (a web server
# decoding in several threads keeps its speed; its output is not a scan's).
_LOCK = threading.Lock()
_MAX_CAPTURED_BYTES = 64 * 1024


class LibraryOutput:
    """The lines written by decoders (to fd 2, or as Python warnings) during one capture."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._caught: list[warnings.WarningMessage] = []
        self._final: list[str] | None = None

    def lines(self) -> list[str]:
        """Non-empty lines so far, in order: C-level output first, then Python warnings."""
        if self._final is not None:
            return list(self._final)
        text = b""
        if self._file is not None:
            self._file.seek(0)
            text = self._file.read(_MAX_CAPTURED_BYTES)
            self._file.seek(0, os.SEEK_END)
        lines = [line.strip() for line in text.decode("utf-8", "replace").splitlines()]
        lines += [str(w.message).strip() for w in self._caught]
        return [line for line in lines if line]

    def _close(self) -> None:
        self._final = self.lines()
        self._file = None


@contextmanager
def library_output() -> Iterator[LibraryOutput]:
    """Capture fd 2 and Python warnings around a decode.

    Python code in other threads (a progress bar) keeps writing to the real
    standard error: ``sys.stderr`` is pointed at it for the duration, only
    the file descriptor is redirected.
    """
    out = LibraryOutput()
    if not _LOCK.acquire(blocking=False):
        yield out
        return
    try:
        with tempfile.TemporaryFile() as tmp, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out._caught = caught
            with _fd2_into(tmp):
                out._file = tmp
                try:
                    yield out
                finally:
                    out._close()
    finally:
        _LOCK.release()


@contextmanager
def _fd2_into(target: IO[bytes]) -> Iterator[None]:
    python_stderr = sys.stderr
    if python_stderr is not None:
        python_stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all (a daemon): nothing to capture
        yield
        return
    terminal = None
    try:
        if python_stderr is not None:
            encoding = getattr(python_stderr, "encoding", None) or "utf-8"
            terminal = open(  # noqa: SIM115 (closed below, after fd 2 is back)
                saved, "w", encoding=encoding, errors="backslashreplace", closefd=False, buffering=1
            )
            sys.stderr = terminal
        os.dup2(target.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        if terminal is not None:
            terminal.flush()
            if sys.stderr is terminal:
                sys.stderr = python_stderr
            terminal.close()
        os.close(saved)


# -- what the lines mean ---------------------------------------------------------
_PATH_PREFIX = re.compile(r"^(?:[^:]{0,400}\.[A-Za-z0-9]{1,5}|tempfile\.tif): ")


def is_end_of_file(lines: list[str]) -> bool:
    """LibRaw's way of saying the data stops before it should (it fills the rest, and goes on)."""
    return any("unexpected end of file" in line.lower() for line in lines)


def unconfigured_compression(lines: list[str]) -> str | None:
    """The compression libtiff says it was built without ("WEBP"), or None."""
    for line in lines:
        found = re.search(r"(\w+) compression support is not configured", line)
        if found:
            return found.group(1)
    return None


def first_cause(lines: list[str]) -> str | None:
    """The first decoder line, without the file name decoders put in front, shortened."""
    for line in lines:
        text = _PATH_PREFIX.sub("", line).strip().rstrip(".")
        if text:
            return text[:100]
    return None
