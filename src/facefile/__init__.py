"""facefile: sort the faces in a photo collection into people, locally.

The public API is :class:`Library`; see ``facefile.api``. The names below
load on first use, so ``import facefile`` (and ``facefile --help``) loads no
model runtime, index or image library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from facefile.errors import FacefileError

if TYPE_CHECKING:
    from facefile.api import Library
    from facefile.types import BBox, Face, FaceQuality, Person

__all__ = ["BBox", "Face", "FaceQuality", "FacefileError", "Library", "Person", "__version__"]
__version__ = "0.1.0"

_HOMES = {
    "Library": "facefile.api",
    "BBox": "facefile.types",
    "Face": "facefile.types",
    "FaceQuality": "facefile.types",
    "Person": "facefile.types",
}


def __getattr__(name: str) -> object:
    """Import a public name from its module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'facefile' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
