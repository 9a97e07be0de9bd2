"""Bench output: a markdown table and a JSON file per run, and PNG plots.

Files go to ``bench-results/<UTC timestamp>-<kind>.md`` and ``.json`` (the
folder is git-ignored). Plots use matplotlib's Agg backend.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

QUALITY_COLUMNS = [
    ("algorithm", "algorithm"),
    ("kind", "setting"),
    ("params", "params"),
    ("pairwise_precision", "pw P"),
    ("pairwise_recall", "pw R"),
    ("pairwise_f", "pw F"),
    ("bcubed_precision", "B3 P"),
    ("bcubed_recall", "B3 R"),
    ("bcubed_f", "B3 F"),
    ("nmi", "NMI"),
    ("n_people", "people"),
    ("unassigned_share", "unassigned"),
    ("kept_with_clean", "kept w/ clean"),
    ("faces_detected", "detected"),
    ("seconds", "time s"),
]


def machine() -> dict[str, Any]:
    """Where the numbers come from."""
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "gpu": "none",
    }


def fmt(value: Any) -> str:
    """One table cell: ratios to 3 decimals, params as ``k=v``."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "defaults"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A GitHub markdown table of ``rows``; missing cells are blank."""
    head = "| " + " | ".join(c[1] for c in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(k, "")) for k, _ in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def write_run(
    out_dir: Path, kind: str, command: str, sections: dict[str, str], data: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``<timestamp>-<kind>.md`` and ``.json``.

    Args:
        out_dir: the results folder (created).
        kind: ``quality``, ``growth``, ``speed``, ``scale``...
        command: the exact command line that reproduces the run.
        sections: heading -> markdown body, in order.
        data: everything measured (JSON-serialisable).

    Returns:
        ``(markdown path, json path)``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = out_dir / f"{stamp}-{kind}"
    info = machine()
    md = [
        f"# facefile bench {kind}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {info['cpu_count']} CPU cores, no GPU, {info['platform']}",
        "",
    ]
    for heading, body in sections.items():
        md += [f"## {heading}", "", body, ""]
    md_path = base.with_suffix(".md")
    md_path.write_text("\n".join(md))
    json_path = base.with_suffix(".json")
    json_path.write_text(
        json.dumps(
            {"kind": kind, "command": command, "machine": info, **data}, indent=1, default=_json_default
        )
    )
    return md_path, json_path


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def plot_conditions(rows: Sequence[dict[str, Any]], path: Path, metric: str = "bcubed_f") -> Path:
    """Grouped bars: ``metric`` per algorithm (defaults only) for each condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [r for r in rows if r["kind"] in ("facefile default", "peer default")]
    conditions = list(dict.fromkeys(r["condition"] for r in chosen))
    algos = list(dict.fromkeys(r["algorithm"] for r in chosen))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(conditions) * 1.5), 4))
    width = 0.8 / max(1, len(algos))
    for j, a in enumerate(algos):
        vals = [
            next((r[metric] for r in chosen if r["algorithm"] == a and r["condition"] == c), 0.0)
            for c in conditions
        ]
        ax.bar([i + j * width for i in range(len(conditions))], vals, width, label=a[:40])
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(conditions))], conditions)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1)
    ax.set_title(f"{metric} by condition (documented defaults)")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_scale(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Time and peak memory against collection size, log-log, one line per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for a in dict.fromkeys(r["algorithm"] for r in ok):
        pts = sorted((r["n_faces"], r["seconds"], r["peak_mb"]) for r in ok if r["algorithm"] == a)
        axes[0].plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=a[:40])
        axes[1].plot([p[0] for p in pts], [p[2] for p in pts], "o-", label=a[:40])
    for ax, lab in zip(axes, ("grouping time (s)", "peak memory (MB)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("faces")
        ax.set_ylabel(lab)
    if ok:
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
