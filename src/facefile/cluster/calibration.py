"""How likely a face (or a group of faces) is a given person: one calibrated number.

Every number the user sees (merge suggestions, "looks like", review
questions, ``why``, a face's confidence) is :func:`probability`: the chance
that the face is that person, read off three features of its nearest faces:

* ``evidence``: the mean cosine similarity of the face to that person's
  ``TOP_K`` most similar faces (a person with fewer counts the missing ones
  at the farthest neighbour's similarity, or :data:`STRANGER` if higher), so
  neither a big person nor one lucky face wins on its own;
* ``rival``: the same for the best *other* candidate (a person, or a lone
  unassigned face), but never less than :data:`STRANGER` (someone not in the
  library yet);
* ``crowd``: how close strangers come to this face: the mean evidence of its
  candidates ranked :data:`CROWD_FROM` + 1 to :data:`CROWD_TO` (after the
  best and its rival; missing ones count as the farthest neighbour). Masked,
  small or blurred faces sit in a crowd of strangers, where the same margin
  over the rival means less.

The four constants are a logistic fit on the three most likely candidates of
every face of lfw-dev and celeb17 (each weighing the same: each face asks the
rest of its collection, with the labels as people), with MobileFaceNet's
full-view descriptors. rmfrd-dev (real masks) is left out of the fit and is
the check: its worst decile is off by 0.048 (BENCHMARKS.md "Calibration";
``facefile bench calibration`` refits and checks). Nothing is fitted on the
user's library.

Known limit (measured there): lfw-dev left out of a fit is off by 0.156
(the only dev collection with people seen once).

**What the grouper left apart.** The chance above was fitted on faces asking
about the *true* people. On facefile's own grouping, the pairs the pages
propose are the ones the grouper refused to link, and among those the same
evidence is right far less often (selection). Two rules follow, both fitted
on the grouper's output of the dev collections and checked on one left out
(``facefile bench calibration --people grouping``):

* two people the grouper left apart (merge suggestions, ``review``'s merge
  questions) are asked both ways (:meth:`PeopleIndex.merge_chance`) and the
  less sure chance goes through :func:`left_apart`: ``logit p' =
  LEFT_APART_INTERCEPT + LEFT_APART_SLOPE * logit p``, two constants fitted
  on the merge candidates of lfw-dev and celeb17; rmfrd-dev held out is
  within 0.009 in every decile (lfw-dev left out 0.026, celeb17 0.144 with
  se 0.082), and the person page proposes 4 merges on the three, all right
  (asked one way, without the correction: 42, 8 right);
* a face the grouper left unassigned is never pre-filled
  (:data:`PREFILL_UNASSIGNED_ABOVE`): whether it is anyone in the library
  is a property of the library (2% of lfw-dev's unassigned faces, 84% of
  rmfrd-dev's, 100% of celeb17's), and no rule fitted on two collections
  made a pre-fill right more often than not on the third.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

TOP_K = 3
"""Faces of a person that a face is compared with (its most similar ones)."""
NEIGHBOURS = 30
"""Nearest faces searched per face; farther people are out of reach."""
CROWD_FROM, CROWD_TO = 2, 10
"""A face's crowd: its candidates ranked ``CROWD_FROM + 1`` to ``CROWD_TO`` by evidence."""
INTERCEPT, COEF_EVIDENCE, COEF_MARGIN, COEF_CROWD = -6.39, 21.38, 21.25, -14.49
"""``logit p = INTERCEPT + COEF_EVIDENCE * e + COEF_MARGIN * (e - max(rival, STRANGER))
+ COEF_CROWD * crowd``."""
SUGGEST_ABOVE = 0.2
"""Candidates less likely than this are not shown ("maybe" hints, review questions)."""
STRANGER = 0.35
"""The least rival evidence and the least padding: someone not in the library yet is always a rival."""
PREFILL_ABOVE = 0.5
"""A person is proposed (pre-filled, or as a merge) only when more likely than not."""
LEFT_APART_INTERCEPT, LEFT_APART_SLOPE = -0.42, 0.91
"""Two people the grouper left apart: ``logit p' = LEFT_APART_INTERCEPT + LEFT_APART_SLOPE * logit p``."""
PREFILL_UNASSIGNED_ABOVE = 1.0
"""A face the grouper left unassigned is pre-filled above this chance: never (no held-out rule is right
more often than not on every dev collection; the page shows its closest person as a hint only)."""


@dataclass(frozen=True)
class Match:
    """A candidate person for a face or a group of faces.

    Attributes:
        person: person id (negative: ``-2 - row``, a face that is in no person).
        probability: calibrated chance it is that person, in ``[0, 1]``.
        evidence: mean similarity to that person's nearest ``TOP_K`` faces.
        rival: the best other candidate's evidence.
        crowd: how close strangers come (see :func:`crowd`).
    """

    person: int
    probability: float
    evidence: float
    rival: float
    crowd: float


def probability(
    evidence: NDArray[np.float64] | float,
    rival: NDArray[np.float64] | float,
    crowd: NDArray[np.float64] | float,
) -> NDArray[np.float64]:
    """Chance that a face is a person, from its evidence, its best rival's and its crowd.

    All three are cosine similarities; a NaN rival is none.
    """
    e = np.asarray(evidence, dtype=np.float64)
    r = np.fmax(np.asarray(rival, dtype=np.float64), STRANGER)
    z = INTERCEPT + COEF_EVIDENCE * e + COEF_MARGIN * (e - r) + COEF_CROWD * np.asarray(crowd, np.float64)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def left_apart(chance: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """The chance that two people the grouper left apart are one, from :func:`probability`'s.

    The grouper has already linked nearly every pair the evidence calls
    right, so among the pairs it left, the same evidence is right less often:
    a chance of 0.9 means about 0.8 here, 0.5 about 0.4.

    Args:
        chance: :func:`probability` of the pair, the less sure of the two
            ways (each person's best faces asking about the other, as
            :meth:`PeopleIndex.merge_chance` asks).

    Returns:
        ``float64``, the same shape, in ``[0, 1]``.
    """
    # a chance out of reach (0) or sure (1) counts as 1e-4 or 1 - 1e-4: the fit's own clip
    p = np.clip(np.asarray(chance, dtype=np.float64), 1e-4, 1.0 - 1e-4)
    z = LEFT_APART_INTERCEPT + LEFT_APART_SLOPE * np.log(p / (1.0 - p))
    return 1.0 / (1.0 + np.exp(-z))


def candidates(
    sims: NDArray[np.floating], nb_people: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Evidence for every candidate person of each query, from its nearest faces.

    Args:
        sims: ``(q, L)`` cosine similarity to each query's nearest faces; NaN where missing.
        nb_people: ``(q, L)`` their people (unique negative ids for faces in no person).

    Returns:
        ``(query, person, evidence)``, flat, one entry per pair found. Fewer
        than ``TOP_K`` listed faces (a small person, or one mostly out of
        reach) count the missing ones as :func:`padding`: one lucky face is
        weaker evidence than three.
    """
    q, width = sims.shape
    row = np.repeat(np.arange(q), width)
    s, p = sims.ravel().astype(np.float64), nb_people.ravel()
    ok = np.isfinite(s)
    row, s, p = row[ok], s[ok], p[ok]
    if row.size == 0:  # no neighbour at all (a library of one face)
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float64)
    order = np.lexsort((-s, p, row))
    row, s, p = row[order], s[order], p[order]
    new = np.r_[True, (row[1:] != row[:-1]) | (p[1:] != p[:-1])]
    start = np.flatnonzero(new)
    rank = np.arange(row.size) - np.repeat(start, np.diff(np.r_[start, row.size]))
    keep = rank < TOP_K
    grp = np.cumsum(new) - 1
    total = np.bincount(grp[keep], weights=s[keep], minlength=start.size)
    found = np.bincount(grp[keep], minlength=start.size)
    qr = row[start]
    return qr, p[start], (total + (TOP_K - found) * padding(sims)[qr]) / TOP_K


def padding(sims: NDArray[np.floating]) -> NDArray[np.float64]:
    """What a face missing from each row's list counts as: its farthest listed similarity.

    Never under :data:`STRANGER`: in a small library the farthest face is a
    stranger far away, and a person with one or two faces would never be sure.
    """
    finite = np.isfinite(sims)
    if sims.size == 0:
        return np.zeros(len(sims))
    low = np.where(finite.any(axis=1), np.where(finite, sims, np.inf).min(axis=1), STRANGER)
    return np.maximum(low, STRANGER)


def crowd(
    query: NDArray[np.int64], evidence: NDArray[np.float64], pad: NDArray[np.float64]
) -> NDArray[np.float64]:
    """How close strangers come to each query: the mean evidence of its candidates ranked
    ``CROWD_FROM + 1`` to ``CROWD_TO`` (the best and its rival left out, as one of
    them may be the face's own person).

    Args:
        query, evidence: as :func:`candidates` returns them.
        pad: ``(q,)`` each query's :func:`padding`, counted for missing candidates.

    Returns:
        ``(q,)`` one value per query.
    """
    n_queries = pad.size
    order = np.lexsort((-evidence, query))
    q, e = query[order], evidence[order]
    start = np.flatnonzero(np.r_[True, q[1:] != q[:-1]]) if q.size else np.zeros(0, np.int64)
    rank = np.arange(q.size) - np.repeat(start, np.diff(np.r_[start, q.size]))
    keep = (rank >= CROWD_FROM) & (rank < CROWD_TO)
    total = np.bincount(q[keep], weights=e[keep], minlength=n_queries)
    found = np.bincount(q[keep], minlength=n_queries)
    width = CROWD_TO - CROWD_FROM
    return (total + (width - found) * pad) / width


def score(
    query: NDArray[np.int64], evidence: NDArray[np.float64], crowds: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(rival, probability)`` of each candidate of :func:`candidates`.

    A candidate's rival is its query's best other candidate (NaN: none);
    ``crowds`` is each query's :func:`crowd`.
    """
    n_queries = crowds.size
    best = np.full(n_queries, -np.inf)
    np.maximum.at(best, query, evidence)
    is_best = evidence == best[query]
    second = np.full(n_queries, -np.inf)
    np.maximum.at(second, query[~is_best], evidence[~is_best])
    n_best = np.bincount(query[is_best], minlength=n_queries)
    second = np.where(n_best > 1, best, second)  # a tie: each is the other's rival
    rival = np.where(is_best, second[query], best[query])
    rival[~np.isfinite(rival)] = np.nan
    return rival, probability(evidence, rival, crowds[query])


def rank(
    query: NDArray[np.int64],
    person: NDArray[np.int64],
    evidence: NDArray[np.float64],
    crowds: NDArray[np.float64],
) -> list[list[Match]]:
    """Each query's candidates as :class:`Match`, most likely first (see :func:`score`).

    ``crowds``: each query's :func:`crowd` (one per query, so its size is the number of queries).
    """
    rival, p = score(query, evidence, crowds)
    out: list[list[Match]] = [[] for _ in range(crowds.size)]
    for i in np.lexsort((person, -p, query)):
        q = query[i]
        found = Match(int(person[i]), float(p[i]), float(evidence[i]), float(rival[i]), float(crowds[q]))
        out[q].append(found)
    return out
