"""The one model runtime: ONNX Runtime sessions on the CPU.

Detectors and embedders ask here for a session instead of configuring
``onnxruntime`` themselves, so thread counts and logging are set once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facefile.errors import FacefileError


def onnx_session(path: str | Path, num_threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path`` on the CPU.

    Args:
        path: an ``.onnx`` file.
        num_threads: threads inside one operator; scans run one session per
            worker process, so 1 is right there.

    Raises:
        FacefileError: the file is missing or not a model ONNX Runtime can load.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(num_threads))
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only; warnings name internal graph nodes
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for any bad file
        raise FacefileError(
            f"Cannot load the ONNX model {path} ({str(exc).splitlines()[0][:200]}); "
            "check that the file is a complete .onnx model."
        ) from exc
