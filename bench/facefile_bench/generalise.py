"""One table across collections: facefile, every peer, and plain average linkage.

The references answer "does facefile's grouping beat the simplest thing on
its own descriptors?": plain average linkage (UPGMA, mean Euclidean distance
of the full view, every face labelled) cut at facefile's own bar, and cut at
the single bar that is best for that collection (an oracle: it reads the
labels). A default that generalises is near the second on every collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facefile_bench.embedcache import EmbeddedSet
from facefile_bench.metrics import score

REFERENCE = "plain average linkage"
BARS = tuple(round(0.40 + 0.01 * i, 2) for i in range(31))
"""Bars searched for the best single bar: 0.40 to 0.70 (facefile's units)."""


@dataclass(frozen=True)
class Collection:
    """A ``--data`` entry: a folder and an optional seeded subset size.

    ``PATH`` or ``PATH:N`` (about N images of PATH, seeded as ``--limit``).
    """

    root: Path
    limit: int | None

    @property
    def name(self) -> str:
        return self.root.name + (f" ({self.limit})" if self.limit else "")

    @classmethod
    def parse(cls, spec: str, limit: int | None = None) -> Collection:
        head, _, tail = spec.rpartition(":")
        if head and tail.isdigit() and not Path(spec).exists():
            return cls(Path(head), int(tail))
        return cls(Path(spec), limit)


def facefile_bar() -> float:
    """The linking bar of facefile's default clusterer (its ``threshold``)."""
    from facefile.cluster.average_linkage import AverageLinkageParams

    return float(AverageLinkageParams().threshold)


def reference_rows(es: EmbeddedSet, bars: Sequence[float] = BARS) -> list[dict[str, Any]]:
    """Plain average linkage at facefile's bar and at the best bar of ``bars``.

    Returns:
        Two rows shaped like :func:`facefile_bench.quality_run.run_quality`'s
        (``algorithm`` :data:`REFERENCE`, ``kind`` ``"facefile's bar"`` and
        ``"best single bar"``, ``params`` the bar).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    det = es.is_detected
    x = np.asarray(es.embeddings["full"][det], dtype=np.float64)
    truth = np.array(es.identities)
    z = linkage(x, method="average", metric="euclidean") if x.shape[0] >= 2 else None

    def at(bar: float) -> dict[str, Any]:
        labels = np.zeros(x.shape[0], np.int64) if z is None else fcluster(z, t=bar, criterion="distance") - 1
        pred = np.full(es.n, -1, np.int64)
        pred[det] = labels
        return {**score(truth, pred).to_dict(), "params": {"bar": bar}, "condition": es.condition}

    own = at(facefile_bar())
    best = max((at(b) for b in bars), key=lambda r: r["bcubed_f"])
    return [
        {**own, "algorithm": REFERENCE, "kind": "facefile's bar"},
        {**best, "algorithm": REFERENCE, "kind": "best single bar"},
    ]


def generalisation_table(results: dict[str, list[dict[str, Any]]], metric: str = "bcubed_f") -> str:
    """Markdown: one row per (algorithm, setting), one column per collection, and the mean.

    Args:
        results: collection name -> its rows (facefile, peers, references).
    """
    names = list(results)
    keys = list(dict.fromkeys((r["algorithm"], r["kind"]) for rows in results.values() for r in rows))
    head = "| algorithm | setting | " + " | ".join(names) + " | mean |"
    lines = [head, "|---|---|" + "---|" * (len(names) + 1)]
    for algo, kind in keys:
        cells: list[str] = []
        vals: list[float] = []
        for name in names:
            r = next((r for r in results[name] if (r["algorithm"], r["kind"]) == (algo, kind)), None)
            if r is None:
                cells.append("")
                continue
            vals.append(float(r[metric]))
            bar = r.get("params", {}).get("bar") if kind == "best single bar" else None
            cells.append(f"{r[metric]:.3f}" + (f" ({bar:.2f})" if bar is not None else ""))
        mean = f"{np.mean(vals):.3f}" if len(vals) == len(names) else ""
        lines.append(f"| {algo} | {kind} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines)
