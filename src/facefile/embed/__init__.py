"""Face embedders, by name.

Built-ins register through :data:`EMBEDDERS` exactly like outside ones and
import their backend only when created.
"""

from __future__ import annotations

from typing import Any

from facefile.embed.base import Embedder
from facefile.registry import Registry

EMBEDDERS: Registry[Embedder] = Registry("embedder", "--embedder")


def _dlib_resnet(**kw: Any) -> Embedder:
    from facefile.embed.dlib_resnet import DlibResnetEmbedder

    return DlibResnetEmbedder(**kw)


EMBEDDERS.register("dlib_resnet", _dlib_resnet)


def create_embedder(name: str, **kwargs: Any) -> Embedder:
    """Build the embedder registered as ``name``.

    Raises:
        UnknownBackendError: ``name`` is not registered.
    """
    return EMBEDDERS.create(name, **kwargs)


__all__ = ["EMBEDDERS", "Embedder", "create_embedder"]
