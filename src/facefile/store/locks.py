"""The scan lock: one scan at a time per library."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facefile.errors import LibraryLockedError

LOCK_NAME = "scan.lock"


@contextmanager
def folder_lock(library_dir: Path) -> Iterator[None]:
    """Hold the library folder's scan lock, or raise if another scan has it."""
    library_dir.mkdir(parents=True, exist_ok=True)
    path = library_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LibraryLockedError(
                f"Another scan is running on the library {library_dir} (process {holder}); "
                "wait for it to finish, or stop it, then run this scan again."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
