"""Face embedders, by name.

Built-ins register through :data:`EMBEDDERS` exactly like outside ones and
import their backend only when created.

Names: ``mobilefacenet`` (the default, shipped inside facefile),
``dlib_resnet`` (facefile 0.1's model; the ``dlib`` extra) and
``onnx:PATH`` (the user's own ArcFace-style ONNX file).

:func:`model_id` names the model an embedder's vectors are stored under
without loading the model (nor its runtime).
"""

from __future__ import annotations

from typing import Any

from facefile.embed.base import Embedder
from facefile.registry import Registry

EMBEDDERS: Registry[Embedder] = Registry("embedder", "--embedder")

MODEL_IDS: dict[str, str] = {"mobilefacenet": "mobilefacenet_192d_v1", "dlib_resnet": "dlib_resnet_v1"}
"""The model id of each named embedder, known without loading it. An outside
embedder may add its own entry beside its registration; without one,
:func:`model_id` builds the embedder to read it."""


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


def model_id(name: str) -> str:
    """The model id the vectors of embedder ``name`` are stored under, e.g. ``"mobilefacenet_192d_v1"``.

    Loads no model: built-ins are looked up in :data:`MODEL_IDS`, and
    ``onnx:PATH`` ids come from the file's sha256.

    Raises:
        UnknownBackendError: ``name`` is not registered.
        ConfigError: ``onnx:PATH`` names no file.
    """
    if name in MODEL_IDS:
        return MODEL_IDS[name]
    prefix, sep, path = name.partition(":")
    if sep and prefix == "onnx" and name not in EMBEDDERS.names():
        from facefile.embed.onnx_face import user_onnx_model_id

        return user_onnx_model_id(path)
    return EMBEDDERS.create(name).model_id


def create_embedder(name: str, **kwargs: Any) -> Embedder:
    """Build the embedder registered as ``name``.

    Raises:
        UnknownBackendError: ``name`` is not registered.
    """
    return EMBEDDERS.create(name, **kwargs)


__all__ = ["EMBEDDERS", "MODEL_IDS", "Embedder", "create_embedder", "model_id"]
