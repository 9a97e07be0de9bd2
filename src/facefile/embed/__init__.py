"""Face embedders, by name.

Built-ins register through :data:`EMBEDDERS` exactly like outside ones and
import their backend only when created.

Names: ``mobilefacenet`` (the default, shipped inside facefile),
``dlib_resnet`` (facefile 0.1's model; the ``dlib`` extra) and
``onnx:PATH`` (the user's own ArcFace-style ONNX file).
"""

from __future__ import annotations

from typing import Any

from facefile.embed.base import Embedder
from facefile.registry import Registry

EMBEDDERS: Registry[Embedder] = Registry("embedder", "--embedder")


def _dlib_resnet(**kw: Any) -> Embedder:
    from facefile.embed.dlib_resnet import DlibResnetEmbedder

    return DlibResnetEmbedder(**kw)


def _mobilefacenet(**kw: Any) -> Embedder:
    from facefile.embed.onnx_face import MobileFaceNetEmbedder

    return MobileFaceNetEmbedder(**kw)


def _user_onnx(path: str, **kw: Any) -> Embedder:
    from facefile.embed.onnx_face import user_onnx_embedder

    return user_onnx_embedder(path, **kw)


EMBEDDERS.register("mobilefacenet", _mobilefacenet)
EMBEDDERS.register("dlib_resnet", _dlib_resnet)
EMBEDDERS.register_prefix("onnx", _user_onnx)


def create_embedder(name: str, **kwargs: Any) -> Embedder:
    """Build the embedder registered as ``name``.

    Raises:
        UnknownBackendError: ``name`` is not registered.
    """
    return EMBEDDERS.create(name, **kwargs)


__all__ = ["EMBEDDERS", "Embedder", "create_embedder"]
