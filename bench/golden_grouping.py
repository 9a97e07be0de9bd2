"""Golden check of the grouping: the same labels before and after a rewrite of ``facefile.cluster``.

Run from the repository root (the bench's descriptors are cached, so only
the first run analyses photos)::

    python bench/golden_grouping.py save  golden.npz   # on the code before the change
    python bench/golden_grouping.py check golden.npz   # after: every case must be identical

Cases, all on MobileFaceNet descriptors of the bench's cache:

* the default grouping (``create_clusterer()``) of the four collections
  ``facefile bench quality`` runs by default, and of the whole of lfw-dev
  and celeb17 with drawn masks on half the photos (the bench's cached
  ``--condition mask`` descriptors);
* the same on lfw-dev (2000) and celeb17 with user decisions drawn from the
  labels (faces placed, some wrongly; "not this person"; cannot-link pairs;
  named people) and a few faces without a descriptor or too small;
* the incremental placement (``assign_new``): three quarters grouped, the
  last quarter placed, on lfw-dev (2000) and celeb17.

``check`` prints, per case, whether the labels are identical and, where not,
the BCubed F before and after.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from facefile_bench.cli import _embed, _load
from facefile_bench.metrics import score

from facefile.cluster import create_clusterer
from facefile.cluster.base import GroupingInput

DATA = Path("../shared/data")
CLEAN = (("lfw-dev", 2000), ("lfw-dev", None), ("celeb17", None), ("rmfrd-dev", None))


def _input(es, rows, **kw) -> GroupingInput:
    n = rows.size
    return GroupingInput(
        face_ids=np.arange(n, dtype=np.int64),
        embeddings=np.asarray(es.embeddings["full"][rows], np.float32),
        quality=es.quality[rows],
        size_px=es.size_px[rows],
        photo_ids=rows.astype(np.int64),
        user_person=kw.pop("user_person", np.full(n, -1, np.int64)),
        previous_person=kw.pop("previous_person", np.full(n, -1, np.int64)),
        views={"upper": np.asarray(es.embeddings["upper"][rows], np.float32)},
        occlusion=es.occlusion[rows],
        **kw,
    )


def _decisions(es, rows, seed: int = 7) -> GroupingInput:
    """Decisions a user might have made, drawn from the labels (some wrong), and some odd faces."""
    rng = np.random.default_rng(seed)
    n = rows.size
    ident = np.unique(np.array(es.identities)[rows], return_inverse=True)[1].astype(np.int64)
    user = np.full(n, -1, np.int64)
    placed = rng.random(n) < 0.08
    user[placed] = 1000 + ident[placed]
    wrong = placed & (rng.random(n) < 0.1)
    user[wrong] = 1000 + rng.integers(0, ident.max() + 1, int(wrong.sum()))
    previous = np.where(rng.random(n) < 0.5, 1000 + ident, -1)
    previous[user >= 0] = user[user >= 0]
    not_person = [(int(r), int(1000 + ident[r])) for r in rng.choice(n, n // 50, replace=False)]
    cannot = [(int(a), int(b)) for a, b in rng.choice(n, (n // 40, 2)) if a != b]
    # same-person cannot-links: the rule that leaves one face out
    same = [
        (int(a), int(b))
        for a in rng.choice(n, n // 40)
        for b in np.flatnonzero(ident == ident[a])[:1]
        if a != b
    ]
    named = frozenset(int(p) for p in rng.choice(np.unique(previous[previous >= 0]), 20))
    data = _input(
        es,
        rows,
        user_person=user,
        previous_person=previous,
        not_person=not_person,
        cannot_link=cannot + same,
        named_people=named,
    )
    emb = data.embeddings.copy()
    up = data.views["upper"].copy()
    nan = rng.random(n) < 0.02
    emb[nan] = np.nan
    up[rng.random(n) < 0.05] = np.nan
    size = data.size_px.copy()
    size[rng.random(n) < 0.03] = 10.0
    return GroupingInput(
        **{
            **{f: getattr(data, f) for f in data.__dataclass_fields__},
            "embeddings": emb,
            "views": {"upper": up},
            "size_px": size,
        }
    )


def _incremental(es, rows, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    from facefile.cluster.identity import assign_person_ids
    from facefile.cluster.incremental import assign_new

    rng = np.random.default_rng(seed)
    is_new = rng.random(rows.size) < 0.25
    data = _input(es, rows)
    old = np.flatnonzero(~is_new)
    g = create_clusterer().fit_predict(data.subset(old))
    ids, _ = assign_person_ids(g.labels, np.full(old.size, -1), np.full(old.size, -1), 0)
    prev = np.full(rows.size, -1, np.int64)
    prev[old] = ids
    data = _input(es, rows, previous_person=prev)
    got = assign_new(data, is_new, int(prev.max()) + 1)
    return got.person_ids, got.confidence


def _drawn_masks(ds, masks: dict[str, str]):
    """The bench's cached descriptors of ``ds`` with drawn masks on half the photos.

    Whichever analysis version made them (the grouping is compared on the
    same descriptors before and after): the cache file is found by its size
    and its masked faces' lower-face occlusion, and recorded in ``masks``
    (``save``) or read from it (``check``).
    """
    from facefile_bench.embedcache import DEFAULT_CACHE
    from facefile_bench.embedcache import _load as load_cached

    name = ds.root.name
    if name not in masks:
        for f in sorted(DEFAULT_CACHE.glob("*.npz")):
            with np.load(f) as z:
                hit = z["is_detected"].size == ds.n_images and z["is_affected"].any()
                hit = hit and z["occlusion"][z["is_affected"], 0].mean() > 0.5
            if hit:
                masks[name] = f.name
                break
    return load_cached(DEFAULT_CACHE / masks[name], ds, "mobilefacenet", "mask")


def cases(masks: dict[str, str]):
    """Yield ``(name, truth, labels, confidence)`` for every case."""
    sets = {}
    for name, limit in CLEAN:
        ds = _load(DATA / name, limit, 0)
        es = _embed(ds, "clean", 0, None, 2)
        sets[(name, limit)] = es
        rows = np.flatnonzero(es.is_detected)
        g = create_clusterer().fit_predict(_input(es, rows))
        yield f"{name}:{limit or 'all'} clean", np.array(es.identities)[rows], g.labels, g.confidence
    for name in ("lfw-dev", "celeb17"):
        ds = _load(DATA / name, None, 0)
        es = _drawn_masks(ds, masks)
        rows = np.flatnonzero(es.is_detected)
        g = create_clusterer().fit_predict(_input(es, rows))
        yield f"{name}:all drawn masks", np.array(es.identities)[rows], g.labels, g.confidence
    for key in (("lfw-dev", 2000), ("celeb17", None)):
        es = sets[key]
        rows = np.flatnonzero(es.is_detected)
        g = create_clusterer().fit_predict(_decisions(es, rows))
        yield f"{key[0]}:{key[1] or 'all'} decisions", np.array(es.identities)[rows], g.labels, g.confidence
        person, conf = _incremental(es, rows)
        yield f"{key[0]}:{key[1] or 'all'} incremental", np.array(es.identities)[rows], person, conf


def main(argv: list[str]) -> int:
    mode, path = argv[1], Path(argv[2])
    saved = dict(np.load(path, allow_pickle=False)) if mode == "check" else {}
    out: dict[str, np.ndarray] = {}
    bad = 0
    t0 = time.process_time()
    masks = {str(k): str(v) for k, v in saved.get("mask_sources", np.zeros((0, 2), str))}
    for name, truth, labels, conf in cases(masks):
        key = name.replace(" ", "_")
        out[f"{key}.labels"], out[f"{key}.conf"] = np.asarray(labels), np.asarray(conf)
        if mode != "check":
            print(f"{name}: {int((labels >= 0).sum())} of {labels.size} assigned", flush=True)
            continue
        before = saved[f"{key}.labels"]
        same = np.array_equal(before, labels)
        conf_gap = float(np.max(np.abs(saved[f"{key}.conf"] - conf), initial=0.0))
        f0, f1 = score(truth, before).bcubed_f, score(truth, labels).bcubed_f
        bad += not same
        print(
            f"{name}: labels {'identical' if same else 'DIFFER'}; BCubed F {f0:.4f} -> {f1:.4f}; "
            f"largest confidence change {conf_gap:.2e}",
            flush=True,
        )
    print(f"CPU {time.process_time() - t0:.1f} s")
    if mode == "save":
        np.savez_compressed(path, mask_sources=np.array(sorted(masks.items()), dtype=str), **out)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
