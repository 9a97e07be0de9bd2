"""facefile: sort the faces in a photo collection into people, locally.

The public API is :class:`Library`; see ``facefile.api``.
"""

from facefile.api import Library
from facefile.errors import FacefileError
from facefile.types import BBox, Face, FaceQuality, Person

__all__ = ["BBox", "Face", "FaceQuality", "FacefileError", "Library", "Person", "__version__"]
__version__ = "0.1.0"
