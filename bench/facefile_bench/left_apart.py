"""What the pages propose on facefile's own grouping: merges and the unassigned page.

The same-person chance (:mod:`facefile.cluster.calibration`) was fitted on
faces asking about the *true* people. On a user's library the people are the
grouper's, and the pages propose what the grouper left apart: two people it
did not merge, a face it left unassigned. :func:`merge_pairs` lists every
merge the person page could propose on facefile's default grouping of a
labelled collection, each asked both ways (each person's best faces ask
about the other, as :meth:`PeopleIndex.merge_chance` does); :func:`rotate`
fits the after-grouping constants
(``LEFT_APART_INTERCEPT``, ``LEFT_APART_SLOPE``) on all collections but one
and checks them on that one, in turn, with the deciles and standard errors of
:mod:`facefile_bench.calibration`; :func:`unassigned_page` counts what the
unassigned page shows under the shipped rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from facefile.cluster import calibration
from facefile.people_index import PeopleIndex
from facefile_bench import calibration as cal
from facefile_bench.embedcache import EmbeddedSet

MERGE_QUERIES = 8
"""A person's best faces that ask who else it could be (as the person page asks)."""


@dataclass(frozen=True)
class Merges:
    """Every (person, other person) pair the person page could propose, on facefile's grouping.

    Attributes:
        name: the collection.
        one_way: ``float64 (m,)`` the shipped chance as the asking person's
            best faces give it (what the page showed before asking both ways).
        chance: ``float64 (m,)`` the less sure of the two ways (the other
            person's best faces asking back; 0 when they do not reach it).
        is_same: ``bool (m,)`` both persons' main identities are one.
        identity: ``int64 (m,)`` the asking person's main identity (for resampling).
    """

    name: str
    one_way: NDArray[np.float64]
    chance: NDArray[np.float64]
    is_same: NDArray[np.bool_]
    identity: NDArray[np.int64]


def merge_pairs(name: str, es: EmbeddedSet) -> Merges:
    """Every merge the person page could propose on facefile's default grouping of ``es``.

    Each person's :data:`MERGE_QUERIES` best faces ask who else it could be
    (:meth:`PeopleIndex.group`, the code the page runs); each other person
    found is a pair, asked back the same way.
    """
    truth, groups = cal.people_of(es, "grouping")
    index = PeopleIndex(es.embeddings["full"][es.is_detected], groups)
    identity_of = cal.main_identity(truth, groups)
    quality = es.quality[es.is_detected]
    asked: dict[tuple[int, int], float] = {}
    for person in identity_of:
        own = np.flatnonzero(groups == person)
        best = own[np.argsort(-quality[own], kind="stable")[:MERGE_QUERIES]]
        for m in index.group(best):
            if m.person >= 0:
                asked[person, m.person] = m.probability
    pairs = list(asked)
    one_way = np.array([asked[p] for p in pairs])
    back = np.array([asked.get((b, a), 0.0) for a, b in pairs])
    same = np.array([identity_of[a] == identity_of[b] for a, b in pairs], bool)
    identity = np.array([identity_of[a] for a, _ in pairs], np.int64)
    return Merges(name, one_way, np.minimum(one_way, back), same, identity)


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.clip(p, 1e-4, 1 - 1e-4)  # as calibration.left_apart clips
    return np.log(p / (1 - p))


def fit(sets: Sequence[Merges]) -> tuple[float, float]:
    """``(LEFT_APART_INTERCEPT, LEFT_APART_SLOPE)``: a logistic on the logit of each pair's ``chance``.

    Each set weighs the same, as in :func:`facefile_bench.calibration.fit`.
    """
    from sklearn.linear_model import LogisticRegression

    y = np.concatenate([s.is_same for s in sets])
    w = np.concatenate([np.full(s.chance.size, y.size / (len(sets) * s.chance.size)) for s in sets])
    x = np.concatenate([_logit(s.chance) for s in sets])[:, None]
    model = LogisticRegression(C=1e4, max_iter=5000).fit(x, y, sample_weight=w)
    return float(model.intercept_[0]), float(model.coef_[0][0])


def predict(recal: tuple[float, float], chance: NDArray[np.float64]) -> NDArray[np.float64]:
    """The after-grouping chance: ``recal`` applied to ``chance`` (as :func:`fit` returns it)."""
    return 1.0 / (1.0 + np.exp(-(recal[0] + recal[1] * _logit(chance))))


def check(recal: tuple[float, float], held: Merges) -> dict:
    """Reliability of the after-grouping chance on ``held``'s merges, and what the page proposes."""
    p = predict(recal, held.chance)
    shown_now = held.one_way > calibration.PREFILL_ABOVE
    proposed, suggested = p > calibration.PREFILL_ABOVE, p >= calibration.SUGGEST_ABOVE
    return {
        "held_out": held.name, "recal": recal, "pairs": int(p.size),
        "worst_range": cal.worst_gap_range(p, held),
        "deciles": cal.reliability(p, held.is_same, True),
        "proposed": int(proposed.sum()), "proposed_same": int(held.is_same[proposed].sum()),
        "proposed_predicted": float(p[proposed].sum()),
        "suggested": int(suggested.sum()), "suggested_same": int(held.is_same[suggested].sum()),
        "suggested_predicted": float(p[suggested].sum()),
        "proposed_before": int(shown_now.sum()), "proposed_before_same": int(held.is_same[shown_now].sum()),
    }  # fmt: skip


def rotate(sets: Sequence[Merges]) -> list[dict]:
    """Fit the after-grouping constants on all merge sets but one, check on that one, in turn."""
    return [check(fit([s for s in sets if s is not held]), held) for held in sets]


def unassigned_page(
    recal: tuple[float, float], params: tuple[float, float, float, float], s: cal.Pairs
) -> dict:
    """What the unassigned page shows on ``s`` (people from facefile's grouping): hints above
    ``facefile.web.similar.HINT_ABOVE`` and pre-fills above
    :data:`~facefile.cluster.calibration.PREFILL_UNASSIGNED_ABOVE`, on the chance fitted on true
    people (``expected``: what ``recal`` would say of the hints)."""
    from facefile.web.similar import HINT_ABOVE

    sel = s.is_unassigned_best
    chance = cal.predict(params, s)[sel]
    p, y = predict(recal, chance), s.is_same[sel]
    hint, pre = chance > HINT_ABOVE, chance > calibration.PREFILL_UNASSIGNED_ABOVE
    before = chance > calibration.PREFILL_ABOVE
    return {"name": s.name, "faces": int(sel.sum()),
            "hints": int(hint.sum()), "hints_same": int(y[hint].sum()),
            "hints_predicted": float(p[hint].sum()),
            "prefilled": int(pre.sum()), "prefilled_same": int(y[pre].sum()),
            "prefilled_before": int(before.sum()), "prefilled_before_same": int(y[before].sum())}  # fmt: skip


def summary(
    params: tuple[float, float, float, float],
    sets: Sequence[cal.Pairs],
    merges: Sequence[Merges],
    after: dict,
    sections: dict[str, str],
    cols: list[tuple[str, str]],
) -> list[str]:
    """The merge suggestions and unassigned hints on facefile's grouping: the after-grouping
    constants rotated, the shipped ones on every set, and what each page shows.

    Args:
        params: the shipped chance's constants.
        sets, merges: each collection's faces' pairs and merge pairs (people from the grouping).
        after: filled with the numbers, for the run's JSON.
        sections, cols: the report's sections (deciles are added) and their table columns.

    Returns:
        The summary's lines.
    """
    from facefile_bench.report import table

    recal_now = (calibration.LEFT_APART_INTERCEPT, calibration.LEFT_APART_SLOPE)
    rotated = rotate(merges) if len(merges) > 1 else []
    checked = [check(recal_now, m) for m in merges]
    fit_on = [m for m in merges if m.name in cal.FIT_ON]
    refit = fit(fit_on) if fit_on else None
    unassigned = [unassigned_page(recal_now, params, s) for s in sets]
    head = ("| merge pairs | worst decile gap (se) | people redrawn: median (5-95%) "
            "| at or above the floor (20%): n, right, expected | proposed (>50%): n, right, expected "
            "| before (shipped chance one way >50%): n, right |")  # fmt: skip

    def row(r: dict) -> str:
        worst = max(r["deciles"], key=lambda b: b["gap"])
        lo, mid, hi = r["worst_range"]
        return (
            f"{r['pairs']} | {worst['gap']:.3f} ({worst['se']:.3f}) | {mid:.3f} ({lo:.3f}-{hi:.3f}) "
            f"| {r['suggested']}, {r['suggested_same']}, {r['suggested_predicted']:.1f} "
            f"| {r['proposed']}, {r['proposed_same']}, {r['proposed_predicted']:.1f} "
            f"| {r['proposed_before']}, {r['proposed_before_same']} |"
        )

    out = ["", "Merge suggestions on facefile's grouping: after-grouping constants "
           "(LEFT_APART_INTERCEPT, LEFT_APART_SLOPE) fitted on the others, checked on the one left out:", "",
           f"| left out | fitted {head}", "|---" * 8 + "|"]  # fmt: skip
    for r in rotated:
        out.append(f"| {r['held_out']} | {r['recal'][0]:.2f}, {r['recal'][1]:.2f} | {row(r)}")
        sections[f"{r['held_out']} left out: merge suggestions after grouping, deciles"] = table(
            r["deciles"], cols
        )
    out += ["", f"Shipped after-grouping constants {recal_now[0]:.2f}, {recal_now[1]:.2f}:", "",
            f"| collection | held out {head}", "|---" * 8 + "|"]  # fmt: skip
    for r in checked:
        held = "no" if r["held_out"] in cal.FIT_ON else "**yes**"
        out.append(f"| {r['held_out']} | {held} | {row(r)}")
        sections[f"{r['held_out']}, shipped after-grouping constants: merge deciles"] = table(
            r["deciles"], cols
        )
    if refit is not None:
        out.append(f"Refitted on {', '.join(cal.FIT_ON)}: {refit[0]:.2f}, {refit[1]:.2f}")
    out += ["", "The unassigned page (shipped rules): each unassigned face's most likely person",
            "", "| collection | unassigned faces | hint shown: n, right, expected after grouping "
            "| pre-filled: n, right | pre-filled before (shipped chance >50%): n, right |",
            "|---" * 5 + "|"]  # fmt: skip
    for u in unassigned:
        out.append(
            f"| {u['name']} | {u['faces']} | {u['hints']}, {u['hints_same']}, {u['hints_predicted']:.1f} "
            f"| {u['prefilled']}, "
            f"{u['prefilled_same']} | {u['prefilled_before']}, {u['prefilled_before_same']} |"
        )
    after.update(left_apart_rotated=rotated, left_apart_shipped=checked, left_apart_refit=refit,
                 unassigned=unassigned)  # fmt: skip
    return out
