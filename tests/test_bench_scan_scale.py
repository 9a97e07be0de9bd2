"""The scan-throughput bench's ratios: scaling efficiency and Ray's overhead per photo."""

from __future__ import annotations

import pytest
from facefile_bench.scan_scale import add_ratios


def _row(mode: str, workers: int, seconds: float, photos: int = 100) -> dict[str, object]:
    return {
        "mode": mode,
        "workers": workers,
        "photos": photos,
        "seconds": seconds,
        "photos_per_s": photos / seconds,
    }


def test_efficiency_and_overhead_per_photo() -> None:
    rows = add_ratios(
        [_row("plain", 1, 10.0), _row("plain", 2, 6.25), _row("ray", 1, 15.0), _row("ray", 2, 9.0)],
        {1: 4.0, 2: 4.5},
    )
    by = {(r["mode"], r["workers"]): r for r in rows}
    assert "efficiency" not in by["plain", 1]
    assert by["plain", 2]["efficiency"] == pytest.approx(10.0 / (2 * 6.25))  # 0.8
    assert by["ray", 2]["efficiency"] == pytest.approx(15.0 / (2 * 9.0))
    assert by["ray", 1]["overhead_ms_per_photo"] == pytest.approx(50.0)  # 5 s more over 100 photos
    assert by["ray", 1]["steady_overhead_ms_per_photo"] == pytest.approx(10.0)  # 4 s of it start-up
    assert by["ray", 2]["overhead_ms_per_photo"] == pytest.approx(27.5)
    assert "overhead_ms_per_photo" not in by["plain", 2]
    assert by["ray start-up", 2]["seconds"] == 4.5
