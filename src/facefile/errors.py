"""Errors facefile raises on purpose.

Every message says what went wrong, the value at fault, and what to do next.
Front ends catch :class:`FacefileError` and exit 1; any other exception is a
bug and keeps its traceback.

::

    FacefileError
    ├── ConfigError          a setting has a bad value or an unknown name
    ├── UnknownBackendError  a detector, embedder or clusterer name is not registered
    ├── LibraryError         the library folder or database cannot be used
    │   ├── LibraryLockedError   another scan holds the library
    │   ├── LibraryReadOnlyError the folder or disk refuses writes
    │   └── SchemaTooNewError    the database was written by a newer facefile
    ├── NotFoundError        no such person, face or photo
    ├── ConstraintError      an edit contradicts itself (e.g. merge a person into itself)
    └── MediaError           one file cannot be read as an image (reported, never fatal to a scan)
"""

from __future__ import annotations


class FacefileError(Exception):
    """Base of every error facefile raises on purpose."""


class ConfigError(FacefileError):
    pass


class UnknownBackendError(FacefileError):
    pass


class LibraryError(FacefileError):
    pass


class LibraryLockedError(LibraryError):
    pass


class LibraryReadOnlyError(LibraryError):
    pass


class SchemaTooNewError(LibraryError):
    pass


class NotFoundError(FacefileError):
    pass


class ConstraintError(FacefileError):
    pass


class MediaError(FacefileError):
    """A file that cannot be used as a photo; ``reason`` is one short line."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
