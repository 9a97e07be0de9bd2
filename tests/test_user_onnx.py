"""Bring your own model: ``--embedder onnx:PATH`` with an ONNX file the test builds itself.

The model is a tiny stand-in for an InsightFace-style ArcFace network: it
averages the chip's colours over a 4x4 grid (48 numbers) and mixes them with a
fixed matrix. It is no face recogniser, but it runs through exactly the path a
real ``w600k_r50.onnx`` would: input size and layout read from the file,
ArcFace alignment, ``(x - 127.5) / 127.5``, vectors stored under the file's
own model id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facefile import Library
from facefile.analyze.analyzer import AnalyzeConfig, FaceAnalyzer
from facefile.embed import create_embedder
from facefile.errors import ConfigError, FacefileError

onnx = pytest.importorskip("onnx", reason="building a test model needs the 'onnx' package (test extra)")
from onnx import TensorProto, helper  # noqa: E402

DIM = 16


def _build(path: Path, *, nchw: bool, batch: int | None, side: int = 112) -> Path:
    """Write a grid-colour model taking ``[batch, 3, side, side]`` or ``[batch, side, side, 3]``."""
    shape = [batch if batch else "N", 3, side, side] if nchw else [batch if batch else "N", side, side, 3]
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch if batch else "N", DIM])
    nodes = []
    src = "input.1"
    if not nchw:
        nodes.append(helper.make_node("Transpose", ["input.1"], ["nchw"], perm=[0, 3, 1, 2]))
        src = "nchw"
    k = side // 4
    nodes.append(helper.make_node("AveragePool", [src], ["grid"], kernel_shape=[k, k], strides=[k, k]))
    nodes.append(helper.make_node("Flatten", ["grid"], ["flat"], axis=1))
    w = np.random.default_rng(7).normal(size=(48, DIM)).astype(np.float32)
    nodes.append(helper.make_node("MatMul", ["flat", "w"], ["embedding"]))
    graph = helper.make_graph(
        nodes,
        "grid_colours",
        [x],
        [y],
        initializer=[helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(("nchw", "batch"), [(True, None), (False, None), (True, 1)])
def test_user_model_loads_with_its_own_layout_and_batch(tmp_path, astronaut, nchw, batch):
    path = _build(tmp_path / "arcface.onnx", nchw=nchw, batch=batch)
    emb = create_embedder(f"onnx:{path}")
    assert emb.chip_size == 112 and emb.dim == DIM
    assert emb.model_id.startswith("onnx_") and emb.model_id != "mobilefacenet_192d_v1"
    faces = FaceAnalyzer(AnalyzeConfig(embedder=f"onnx:{path}")).analyze(astronaut)
    assert len(faces) == 1
    vec = faces[0].embeddings["full"]
    assert vec.shape == (DIM,) and np.isfinite(vec).all()
    chips = [np.full((112, 112, 3), v, dtype=np.uint8) for v in (30, 200, 90)]
    out = emb.embed(chips)  # three chips through a fixed batch of 1 too
    assert out.shape == (3, DIM) and not np.allclose(out[0], out[1])


def test_same_file_same_model_id_other_file_other_id(tmp_path):
    a = _build(tmp_path / "a.onnx", nchw=True, batch=None)
    b = _build(tmp_path / "b.onnx", nchw=True, batch=None, side=128)
    assert create_embedder(f"onnx:{a}").model_id == create_embedder(f"onnx:{a}").model_id
    assert create_embedder(f"onnx:{a}").model_id != create_embedder(f"onnx:{b}").model_id
    assert create_embedder(f"onnx:{b}").chip_size == 128
    # the settings know the id from the file alone, before any session loads
    assert AnalyzeConfig(embedder=f"onnx:{a}").model_id == create_embedder(f"onnx:{a}").model_id


def test_a_broken_or_wrong_file_is_refused_with_the_reason(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(FacefileError, match="Cannot load the ONNX model"):
        create_embedder(f"onnx:{junk}")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    flat = helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    flat.ir_version = 8
    onnx.save(flat, tmp_path / "flat.onnx")
    with pytest.raises(ConfigError, match="a face embedder takes images"):
        create_embedder(f"onnx:{tmp_path / 'flat.onnx'}")


def test_scan_with_a_user_model_stores_its_vectors_apart(tmp_path, astronaut):
    """A library scanned with the default model, then with the user's: one model's vectors per face."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "a.jpg", quality=90)
    Image.fromarray(astronaut[:, ::-1]).save(photos / "b.jpg", quality=90)
    model = _build(tmp_path / "arcface.onnx", nchw=True, batch=None)
    lib_dir = tmp_path / "lib"
    with Library(lib_dir, create=True) as lib:
        lib.scan(photos)
        assert lib.stats()["faces"] == 2
    with Library(lib_dir, settings={"analyze.embedder": f"onnx:{model}"}) as lib:
        summary = lib.scan(photos)
        assert summary.photos_analyzed == 2  # analysed again with the new model
        rows = lib.store.conn.execute("SELECT DISTINCT model_id, dim FROM embeddings").fetchall()
        assert len(rows) == 1 and rows[0][0].startswith("onnx_") and rows[0][1] == DIM
        assert lib.stats()["faces"] == 2
        assert lib.scan(photos).photos_analyzed == 0
