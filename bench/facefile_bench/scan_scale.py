"""Scan throughput on 1 and 2 processes: plain worker processes against a local Ray.

Each run is ``facefile scan DIR --library TMP --workers N -q`` as a
subprocess into a fresh library, timed end to end (discovery, hashing,
analysis, saving, grouping), and the same with ``--ray`` (a Ray started for
the scan with N CPUs). Everything but the analysis is the same in both, so
the difference is what Ray costs:

* scaling efficiency: throughput at N processes / (N x throughput at 1);
* Ray overhead per photo: (Ray time - plain time) / photos at the same N,
  and the part of it that is a fixed start-up: starting and stopping a Ray
  for a scan with nothing to analyse (its own subprocess), and what is left
  per photo once that is taken out.

Each setting runs ``repeats`` times, round by round, and its best time counts:
on a shared machine other work only ever adds time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from facefile_bench.speed import facefile_scan


def run_scan_scale(
    paths: Sequence[Path],
    workers: Sequence[int] = (1, 2),
    repeats: int = 1,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Time plain and Ray scans of ``paths`` at each number of processes.

    Returns:
        One row per (``mode`` "plain" or "ray", ``workers``): ``photos``,
        ``faces``, ``seconds`` (the best run), ``runs`` (every time),
        ``photos_per_s``; see :func:`add_ratios` for the derived columns.
        Last, a ``mode`` "ray start-up" row per number of processes: the
        fixed cost, in ``seconds`` (best of ``repeats``).
    """
    settings = [(mode, extra, n) for mode, extra in (("plain", ()), ("ray", ("--ray",))) for n in workers]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {(m, n): [] for m, _, n in settings}
    startup: dict[int, list[float]] = {n: [] for n in workers}
    for i in range(repeats):  # round by round, so a burst of other work hits every setting alike
        for mode, extra, n in settings:
            if progress:
                progress(f"round {i + 1}/{repeats}: {mode} scan, {n} process{'es' if n > 1 else ''}")
            runs[mode, n].append(facefile_scan(list(paths), n, extra=extra))
        for n in workers:
            startup[n].append(ray_startup_seconds(n))
    rows: list[dict[str, Any]] = []
    for mode, _, n in settings:
        seconds = min(r["seconds"] for r in runs[mode, n])
        rows.append(
            {
                "mode": mode,
                "workers": n,
                "photos": len(paths),
                "faces": runs[mode, n][0]["faces"],
                "seconds": seconds,
                "runs": [r["seconds"] for r in runs[mode, n]],
                "photos_per_s": len(paths) / seconds,
            }
        )
    return add_ratios(rows, {n: min(t) for n, t in startup.items()})


def add_ratios(rows: list[dict[str, Any]], startup_s: dict[int, float]) -> list[dict[str, Any]]:
    """Add ``efficiency``, ``overhead_ms_per_photo`` and ``steady_overhead_ms_per_photo``.

    Args:
        rows: :func:`run_scan_scale`'s plain and Ray rows.
        startup_s: seconds to start and stop a Ray with nothing to analyze, by workers.

    Returns:
        The rows with the ratios, and a ``ray start-up`` row per number of processes.
    """
    by = {(r["mode"], r["workers"]): r for r in rows}
    for r in rows:
        one = by.get((r["mode"], 1))
        if one is not None and r["workers"] > 1:
            r["efficiency"] = r["photos_per_s"] / (r["workers"] * one["photos_per_s"])
        plain = by.get(("plain", r["workers"]))
        if r["mode"] == "ray" and plain is not None:
            extra = r["seconds"] - plain["seconds"]
            r["overhead_ms_per_photo"] = 1000.0 * extra / r["photos"]
            start = startup_s.get(r["workers"])
            if start is not None:
                r["steady_overhead_ms_per_photo"] = 1000.0 * (extra - start) / r["photos"]
    starts = [{"mode": "ray start-up", "workers": n, "seconds": s} for n, s in sorted(startup_s.items())]
    return [*rows, *starts]


def ray_startup_seconds(workers: int) -> float:
    """Seconds to import, start, join and stop a Ray for a scan with nothing to analyse (a fresh process)."""
    cmd = [sys.executable, "-m", "facefile_bench.scan_scale", str(workers)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"timing Ray's start-up failed ({res.returncode}): {tail}")
    return float(json.loads(res.stdout.strip().splitlines()[-1])["seconds"])


def _startup(workers: int) -> float:
    """Import Ray, start it, join it and stop it, as a scan with nothing to analyse would."""
    from facefile.analyze.analyzer import FaceAnalyzer
    from facefile.scan.on_ray import analyze_on_ray

    analyzer = FaceAnalyzer()
    t0 = time.perf_counter()
    for _ in analyze_on_ray([], analyzer, 200.0, 0.0, address="local", workers=workers):
        pass
    return time.perf_counter() - t0


if __name__ == "__main__":
    # python -m facefile_bench.scan_scale WORKERS: Ray's start-up and shutdown, in seconds
    sys.stdout.write(json.dumps({"seconds": _startup(int(sys.argv[1]))}) + "\n")
