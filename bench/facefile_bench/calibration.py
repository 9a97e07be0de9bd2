"""Is facefile's same-person probability honest? Fit on some collections, check on another.

Each detected face of a labelled collection asks the rest of it, with the
labels as people, which person it is (:meth:`facefile.people_index.PeopleIndex.faces`, the code the
library runs). Its :data:`TOP` most likely candidates are the pairs a user
could be shown; each is "same" when the candidate is the face's own
identity (a face whose identity has no other image has none).
:func:`rotate` fits the logistic of :mod:`facefile.cluster.calibration` on all
collections but one and tabulates predicted against observed same-person
rates on the one left out, for each in turn. The shipped constants are
fitted on :data:`FIT_ON` only, so the remaining collection checks them.

Deciles are equal-count bins of the predicted chance (each a tenth of the
pairs, lowest first); each carries the binomial standard error of its
observed rate if the predictions were exact (``sqrt(sum p (1 - p)) / n``).
Pairs of one face are not independent, so the real sampling error is
somewhat larger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from facefile.cluster import calibration
from facefile.people_index import PeopleIndex
from facefile_bench.embedcache import EmbeddedSet

TOP = 3
"""Candidates per face in the reliability population."""
FIT_ON = ("lfw-dev", "celeb17")
"""The collections the shipped constants are fitted on; the others check them."""


@dataclass(frozen=True)
class Pairs:
    """(face, candidate) pairs of one collection.

    Attributes:
        name: the collection.
        evidence, rival, crowd: ``float64 (m,)`` the three features of each pair.
        is_same: ``bool (m,)`` the candidate is the face's own identity.
        is_top: ``bool (m,)`` the candidate was the face's most likely one.
        identity: ``int64 (m,)`` the asking face's identity (for resampling people).
        is_unassigned_best: ``bool (m,)`` the asking face is in no person and
            the candidate is its most likely *person* among the pairs: what
            the unassigned page proposes (only with facefile's grouping).
    """

    name: str
    evidence: NDArray[np.float64]
    rival: NDArray[np.float64]
    crowd: NDArray[np.float64]
    is_same: NDArray[np.bool_]
    is_top: NDArray[np.bool_]
    identity: NDArray[np.int64]
    is_unassigned_best: NDArray[np.bool_]


def pairs(name: str, es: EmbeddedSet, people: str = "labels") -> Pairs:
    """The top :data:`TOP` candidates of every detected face of ``es``.

    Args:
        name: the collection's name, for the report.
        es: its embedded faces.
        people: ``"labels"`` (each identity is a person) or ``"grouping"``
            (facefile's default grouping makes the people, as a user's
            library has them; a candidate is "same" when most of its faces
            are the face's identity).
    """
    truth, groups = people_of(es, people)
    index = PeopleIndex(es.embeddings["full"][es.is_detected], groups)
    identity_of = main_identity(truth, groups)
    ev, rv, cr, same, top, asker, proposed = [], [], [], [], [], [], []
    for i, found in enumerate(index.faces()):
        first_person = next((j for j, m in enumerate(found[:TOP]) if m.person >= 0), -1)
        for j, m in enumerate(found[:TOP]):
            who = identity_of[m.person] if m.person >= 0 else int(truth[-2 - m.person])
            ev.append(m.evidence)
            rv.append(m.rival)
            cr.append(m.crowd)
            same.append(who == truth[i])
            top.append(j == 0)
            asker.append(truth[i])
            proposed.append(groups[i] < 0 and j == first_person)
    return Pairs(
        name, np.array(ev), np.array(rv), np.array(cr), np.array(same, bool), np.array(top, bool),
        np.array(asker, np.int64), np.array(proposed, bool),
    )  # fmt: skip


def people_of(es: EmbeddedSet, people: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(identity, person)`` of each detected face: the labels, or facefile's default grouping."""
    det = es.is_detected
    truth = np.unique(np.array(es.identities)[det], return_inverse=True)[1].astype(np.int64)
    if people == "labels":
        return truth, truth
    from facefile_bench.facefile_column import facefile_grouper

    views = {k: v[det] for k, v in es.embeddings.items()}
    groups = facefile_grouper().group(
        views, np.flatnonzero(det), es.quality[det], es.size_px[det], occlusion=es.occlusion[det]
    )
    return truth, np.asarray(groups, dtype=np.int64)


def main_identity(truth: NDArray[np.int64], groups: NDArray[np.int64]) -> dict[int, int]:
    """Each person's identity: the one most of its faces have."""
    return {int(g): int(np.bincount(truth[groups == g]).argmax()) for g in np.unique(groups[groups >= 0])}


def features(s: Pairs) -> NDArray[np.float64]:
    """``(m, 3)``: evidence, margin over ``max(rival, STRANGER)``, crowd (the logistic's inputs)."""
    return np.c_[s.evidence, s.evidence - np.fmax(s.rival, calibration.STRANGER), s.crowd]


def fit(sets: Sequence[Pairs]) -> tuple[float, float, float, float]:
    """``(INTERCEPT, COEF_EVIDENCE, COEF_MARGIN, COEF_CROWD)`` fitted on ``sets``.

    A logistic regression (all but unregularised). Each set weighs the same,
    whatever its number of pairs, so one big collection does not set the
    scale alone (weighing pairs instead: rmfrd-dev held out off by 0.068
    against 0.048).
    """
    from sklearn.linear_model import LogisticRegression

    y = np.concatenate([s.is_same for s in sets])
    w = np.concatenate([np.full(s.evidence.size, y.size / (len(sets) * s.evidence.size)) for s in sets])
    model = LogisticRegression(C=1e4, max_iter=5000)
    model.fit(np.concatenate([features(s) for s in sets]), y, sample_weight=w)
    return (float(model.intercept_[0]), *(float(c) for c in model.coef_[0]))  # type: ignore[return-value]


def predict(params: tuple[float, float, float, float], s: Pairs) -> NDArray[np.float64]:
    """The chance of each pair of ``s`` under ``params`` (as :func:`fit` returns them)."""
    z = params[0] + features(s) @ np.asarray(params[1:])
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def reliability(p: NDArray[np.float64], y: NDArray[np.bool_], equal_count: bool) -> list[dict]:
    """Predicted against observed same-person rate per bin.

    Args:
        p, y: predictions and outcomes.
        equal_count: ten bins of equal size by ``p`` (deciles); otherwise ten
            bins of width 0.1.
    """
    order = np.argsort(p, kind="stable")
    if equal_count:
        bins = np.array_split(order, 10)
    else:
        which = np.minimum((p * 10).astype(int), 9)
        bins = [np.flatnonzero(which == b) for b in range(10)]
    rows = []
    for b, sel in enumerate(bins):
        if sel.size == 0:
            continue
        pred, obs = float(p[sel].mean()), float(y[sel].mean())
        se = float(np.sqrt((p[sel] * (1 - p[sel])).sum()) / sel.size)
        rows.append({"bin": b + 1, "pairs": int(sel.size), "predicted": pred, "observed": obs,
                     "gap": abs(pred - obs), "se": se, "low": float(p[sel].min()),
                     "high": float(p[sel].max())})  # fmt: skip
    return rows


class People(Protocol):
    """Pairs with an outcome and the identity that asked (:class:`Pairs`, or merge pairs)."""

    @property
    def is_same(self) -> NDArray[np.bool_]: ...

    @property
    def identity(self) -> NDArray[np.int64]: ...


def worst_gap_range(
    p: NDArray[np.float64], s: People, rounds: int = 500, seed: int = 0
) -> tuple[float, float, float]:
    """The worst decile gap when the collection's people are drawn again (with replacement).

    The pairs of one person are not independent (one face gives three pairs,
    and a hard person gives many hard pairs), so the deciles' binomial
    standard errors understate how much the worst gap would move on another
    collection of the same kind.

    Returns:
        ``(5th, 50th, 95th)`` percentiles of the worst gap over ``rounds`` draws.
    """
    rng = np.random.default_rng(seed)
    people = np.unique(s.identity)
    where = np.searchsorted(people, s.identity)
    worst = []
    for _ in range(rounds):
        copies = np.bincount(rng.integers(0, people.size, people.size), minlength=people.size)
        pick = np.repeat(np.arange(p.size), copies[where])
        worst.append(max(b["gap"] for b in reliability(p[pick], s.is_same[pick], True)))
    lo, mid, hi = np.percentile(worst, [5, 50, 95])
    return float(lo), float(mid), float(hi)


def shown(p: NDArray[np.float64], y: NDArray[np.bool_], top: NDArray[np.bool_]) -> dict:
    """What the floor and the pre-fill bar do to each face's most likely person.

    Returns:
        Counts and observed same-person rates of the top candidates under the
        floor (hidden), between the floor and the pre-fill bar (shown as
        "maybe") and above it (pre-filled).
    """
    p, y = p[top], y[top]
    out: dict = {}
    for name, sel in (("hidden", p < calibration.SUGGEST_ABOVE),
                      ("maybe", (p >= calibration.SUGGEST_ABOVE) & (p <= calibration.PREFILL_ABOVE)),
                      ("prefilled", p > calibration.PREFILL_ABOVE)):  # fmt: skip
        out[name] = int(sel.sum())
        out[f"{name}_same"] = float(y[sel].mean()) if sel.any() else float("nan")
    return out


def check(params: tuple[float, float, float, float], held: Pairs) -> dict:
    """Reliability of ``params`` on ``held``: deciles, bins of width 0.1, top candidates, what is shown."""
    p = predict(params, held)
    return {
        "held_out": held.name, "params": params, "pairs": int(p.size),
        "shown": shown(p, held.is_same, held.is_top),
        "unassigned": shown(p, held.is_same, held.is_unassigned_best),
        "worst_range": worst_gap_range(p, held),
        "deciles": reliability(p, held.is_same, True),
        "bins": reliability(p, held.is_same, False),
        "top_deciles": reliability(p[held.is_top], held.is_same[held.is_top], True),
    }  # fmt: skip


def rotate(sets: Sequence[Pairs]) -> list[dict]:
    """Fit on all but one, check on that one, for each in turn."""
    return [check(fit([s for s in sets if s is not held]), held) for held in sets]
