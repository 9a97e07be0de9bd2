"""The calibrated same-person chance: on synthetic descriptors with known identities, and
held out on real masked faces it was not fitted on (skips without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facefile.cluster.calibration import (
    PREFILL_ABOVE,
    PREFILL_UNASSIGNED_ABOVE,
    STRANGER,
    SUGGEST_ABOVE,
    candidates,
    crowd,
    left_apart,
    probability,
)
from facefile.people_index import PeopleIndex

RMFRD = Path("../shared/data/rmfrd-dev")

DIM = 128


def faces_of(
    n_people: int, per_person: int, *, seed: int, to_centre: float = 0.85
) -> tuple[np.ndarray, np.ndarray]:
    """Unit descriptors whose cosine to their person's centre is ``to_centre`` (two faces of one
    person then score about ``to_centre ** 2``, two people about 0), and their identities."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    who = np.repeat(np.arange(n_people), per_person)
    noise = rng.normal(size=(who.size, DIM))
    noise -= (noise * centres[who]).sum(axis=1, keepdims=True) * centres[who]
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    x = to_centre * centres[who] + np.sqrt(1 - to_centre**2) * noise
    return x.astype(np.float32), who.astype(np.int64)


def test_chance_rises_with_evidence_and_falls_with_a_close_rival_or_a_crowd() -> None:
    far = STRANGER  # strangers no closer than the least rival: a sparse neighbourhood
    assert probability(0.7, 0.1, far) > probability(0.5, 0.1, far) > probability(0.3, 0.1, far)
    assert probability(0.7, 0.1, far) > 0.9 and probability(0.55, 0.5, far) < probability(0.55, 0.1, far)
    assert probability(0.1, 0.1, far) < SUGGEST_ABOVE
    # the same evidence and margin mean less where strangers come close (masked, small faces)
    assert probability(0.55, 0.5, 0.5) < PREFILL_ABOVE < probability(0.55, 0.5, 0.35)
    # alone in a small library, merely nearest a person is not enough: a stranger is always a rival
    assert probability(0.35, np.nan, far) < SUGGEST_ABOVE < PREFILL_ABOVE < probability(0.8, np.nan, far)
    assert float(probability(-1.0, 1.0, 1.0)) >= 0.0 and float(probability(1.0, -1.0, -1.0)) <= 1.0


def test_members_are_sure_and_a_misplaced_face_is_not() -> None:
    x, who = faces_of(6, 6, seed=1)
    people = who.copy()
    people[0] = 1  # a face of person 0 put in person 1 by mistake
    conf = PeopleIndex(x, people).confidence()
    assert conf.dtype == np.float32 and ((conf >= 0) & (conf <= 1)).all()
    members = np.flatnonzero(people == who)
    assert (conf[members] > PREFILL_ABOVE).all()
    assert conf[0] < SUGGEST_ABOVE < conf[members].min()
    # the misplaced face's own person is the first thing it is asked about
    found = PeopleIndex(x, people).faces(np.array([0]))[0]
    assert found[0].person == 0 and found[0].probability > PREFILL_ABOVE


def test_a_stranger_is_sure_to_be_nobody_else() -> None:
    x, who = faces_of(5, 6, seed=2)
    people = np.where(who == 4, -1, who)  # person 4's faces are in no person: strangers here
    lone = np.flatnonzero(who == 4)[0]
    idx = PeopleIndex(x[np.r_[np.flatnonzero(who != 4), lone]], np.r_[people[who != 4], -1])
    conf = idx.confidence()
    assert conf[-1] > PREFILL_ABOVE  # far from every person: sure it is none of them
    found = idx.faces(np.array([conf.size - 1]))[0]
    assert all(m.probability < SUGGEST_ABOVE for m in found if m.person >= 0)


def test_an_unassigned_group_finds_its_person_and_strangers_find_nobody() -> None:
    x, who = faces_of(8, 6, seed=3)
    people = who.copy()
    group = np.flatnonzero(who == 2)[:3]  # three of person 2's faces wait, unassigned
    strangers = np.flatnonzero(who == 7)  # person 7 is in no person at all
    people[group] = -1
    people[strangers] = -1
    idx = PeopleIndex(x, people)
    best = next(m for m in idx.group(group) if m.person >= 0)
    assert best.person == 2 and best.probability > PREFILL_ABOVE
    assert all(m.probability < SUGGEST_ABOVE for m in idx.group(strangers) if m.person >= 0)
    # the person's own people and the excluded ones are never candidates
    assert 2 not in {m.person for m in idx.group(group, exclude=(2,))}


def test_a_person_is_judged_by_its_nearest_faces_not_its_size() -> None:
    # query 0's neighbours: person 5 (one face listed of five), person 7 (its only face),
    # person 6 (three faces), a face in no person; query 1 is in a small library (far strangers)
    sims = np.array([[0.9, 0.8, 0.6, 0.6, 0.6, 0.4], [0.9, 0.1, np.nan, np.nan, np.nan, np.nan]])
    nb = np.array([[5, 7, 6, 6, 6, -9], [5, -9, -9, -9, -9, -9]])
    q, p, ev = candidates(sims, nb)
    got = {(int(a), int(b)): e for a, b, e in zip(q, p, ev, strict=True)}
    assert got[0, 6] == 0.6  # its three nearest faces
    # missing faces count as the farthest listed: one lucky face is weaker evidence than three
    assert abs(got[0, 5] - (0.9 + 0.4 + 0.4) / 3) < 1e-12 and abs(got[0, 7] - (0.8 + 0.4 + 0.4) / 3) < 1e-12
    assert got[0, 7] < got[0, 6] and abs(got[0, -9] - 0.4) < 1e-12
    # ... but never as less than a stranger: far strangers do not sink a small person
    assert abs(got[1, 5] - (0.9 + 2 * STRANGER) / 3) < 1e-12


def test_the_crowd_is_the_candidates_after_the_best_two() -> None:
    # query 0: candidates at 0.9 (best), 0.6 (its rival), then 0.5 and 0.4; eight crowd places,
    # the six missing count as its padding 0.35. Query 1 has no candidate at all.
    query = np.array([0, 0, 0, 0])
    evidence = np.array([0.4, 0.9, 0.5, 0.6])
    got = crowd(query, evidence, np.array([0.35, 0.35]))
    assert abs(got[0] - (0.5 + 0.4 + 6 * 0.35) / 8) < 1e-12
    assert got[1] == 0.35


@pytest.mark.long
def test_the_chance_is_honest_on_real_masked_faces_it_was_not_fitted_on() -> None:
    """Every face of rmfrd-dev (real masks; left out of the fit) asks the rest who it is: among
    the chances it is shown, predicted and observed same-person rates agree in every decile."""
    if not RMFRD.is_dir():
        pytest.skip(f"real masked faces not found at {RMFRD} (see shared/data/README.md)")
    from facefile_bench import calibration as cal
    from facefile_bench.dataset import load_labelled
    from facefile_bench.embedcache import BENCH_VIEWS, embed_set

    from facefile.analyze.analyzer import AnalyzeConfig

    assert RMFRD.name not in cal.FIT_ON
    config = AnalyzeConfig(views=BENCH_VIEWS, embedder="mobilefacenet")
    es, _ = embed_set(load_labelled(RMFRD), "clean", config=config)  # the bench's cache, if there
    pairs = cal.pairs(RMFRD.name, es)
    shown = probability(pairs.evidence, pairs.rival, pairs.crowd)  # what the library shows
    deciles = cal.reliability(shown, pairs.is_same, equal_count=True)
    assert len(deciles) == 10 and sum(d["pairs"] for d in deciles) == pairs.is_same.size > 2000
    assert all(d["gap"] <= 0.05 for d in deciles), deciles
    # what the user meets: a pre-filled person is right more often than not; a hidden one is not
    top = cal.shown(shown, pairs.is_same, pairs.is_top)
    assert top["prefilled_same"] > PREFILL_ABOVE > top["hidden_same"], top


def test_the_bench_refit_recovers_a_known_chance() -> None:
    """Pairs drawn from a known logistic: the refit predicts fresh draws within 0.05 per decile."""
    from facefile_bench import calibration as cal

    rng = np.random.default_rng(4)
    truth = (-6.0, 20.0, 20.0, -14.0)

    def draw(n: int) -> cal.Pairs:
        ev, rival, crowds = rng.uniform(0.2, 0.8, n), rng.uniform(0.2, 0.7, n), rng.uniform(0.3, 0.6, n)
        none = np.zeros(n, bool)
        s = cal.Pairs("drawn", ev, rival, crowds, none, ~none, np.arange(n), none)
        same = rng.random(n) < cal.predict(truth, s)
        return cal.Pairs("drawn", ev, rival, crowds, same, s.is_top, s.identity, none)

    params = cal.fit([draw(20_000)])
    fresh = draw(20_000)
    deciles = cal.reliability(cal.predict(params, fresh), fresh.is_same, equal_count=True)
    assert all(d["gap"] <= 0.05 and d["se"] < 0.02 for d in deciles), deciles
    assert np.allclose(params, truth, rtol=0.15, atol=0.5), params


def test_what_the_grouper_left_apart_needs_more_evidence_to_be_proposed() -> None:
    """The grouper already linked nearly every pair the evidence calls right: among the pairs it
    left apart the same chance is right less often, and nothing it left unassigned is pre-filled."""
    shipped = np.linspace(0.01, 0.99, 99)
    after = left_apart(shipped)
    assert np.all(np.diff(after) > 0) and np.all(after < shipped) and ((after >= 0) & (after <= 1)).all()
    assert left_apart(0.6) < PREFILL_ABOVE < left_apart(0.99)  # a coin flip is not proposed; a sure one is
    assert PREFILL_UNASSIGNED_ABOVE >= 1.0 and not (left_apart(1.0) > PREFILL_UNASSIGNED_ABOVE)


def test_a_merge_is_asked_both_ways() -> None:
    """Two halves of one person are proposed as one, whichever asks; two people are not; and a
    stranger who looks like one face of a big person is not, though that face vouches for him."""
    x, who = faces_of(6, 8, seed=6)
    people = who.copy()
    people[who == 0] = np.where(np.arange(8) < 4, 0, 6)  # person 0 split in two: 0 and 6
    # a stranger like one face of person 1 in what sets it apart from 1's other faces
    centre = x[who == 1].mean(axis=0) / np.linalg.norm(x[who == 1].mean(axis=0))
    own = x[np.flatnonzero(who == 1)[0]] - (x[np.flatnonzero(who == 1)[0]] @ centre) * centre
    twin = 0.3 * centre + 0.954 * own / np.linalg.norm(own)
    x, people = np.r_[x, twin[None, :].astype(np.float32)], np.r_[people, 7]
    idx = PeopleIndex(x, people)

    def rows(p: int) -> np.ndarray:
        return np.flatnonzero(people == p)

    halves = idx.merge_chance(rows(0), 0, rows(6), 6)
    assert halves > PREFILL_ABOVE and halves == idx.merge_chance(rows(6), 6, rows(0), 0)
    assert idx.merge_chance(rows(1), 1, rows(2), 2) < SUGGEST_ABOVE
    one_way = next(m.probability for m in idx.group(rows(7)) if m.person == 1)
    both_ways = idx.merge_chance(rows(7), 7, rows(1), 1)
    assert both_ways < float(left_apart(one_way)) and both_ways < SUGGEST_ABOVE


@pytest.mark.long
def test_merges_proposed_on_facefiles_grouping_are_honest_on_real_masked_faces() -> None:
    """facefile groups rmfrd-dev (real masks, left out of every fit); each person asks who else it
    could be, as the person page asks: the after-grouping chance agrees with how often the two are
    one person in every decile, and the unassigned page pre-fills nobody."""
    if not RMFRD.is_dir():
        pytest.skip(f"real masked faces not found at {RMFRD} (see shared/data/README.md)")
    from facefile_bench import calibration as cal
    from facefile_bench import left_apart as left_apart_bench
    from facefile_bench.dataset import load_labelled
    from facefile_bench.embedcache import BENCH_VIEWS, embed_set

    from facefile.analyze.analyzer import AnalyzeConfig
    from facefile.cluster import calibration as shipped

    assert RMFRD.name not in cal.FIT_ON
    config = AnalyzeConfig(views=BENCH_VIEWS, embedder="mobilefacenet")
    es, _ = embed_set(load_labelled(RMFRD), "clean", config=config)  # the bench's cache, if there
    merges = left_apart_bench.merge_pairs(RMFRD.name, es)
    chance = left_apart(merges.chance)  # what the page shows: asked both ways, after grouping
    deciles = cal.reliability(chance, merges.is_same, equal_count=True)
    assert len(deciles) == 10 and merges.is_same.size > 2000 and merges.is_same.sum() > 20
    assert all(d["gap"] <= 0.05 for d in deciles), deciles
    # the chance fitted on true people, asked one way, proposed 5 merges here (1 right); this fewer
    before = merges.one_way > PREFILL_ABOVE
    assert (chance > PREFILL_ABOVE).sum() < before.sum() and before.sum() > before[merges.is_same].sum()
    faces = cal.pairs(RMFRD.name, es, people="grouping")
    params = (shipped.INTERCEPT, shipped.COEF_EVIDENCE, shipped.COEF_MARGIN, shipped.COEF_CROWD)
    recal = (shipped.LEFT_APART_INTERCEPT, shipped.LEFT_APART_SLOPE)
    page = left_apart_bench.unassigned_page(recal, params, faces)
    # many unassigned faces have a known person as a hint, and a minority of hints are right (18%)
    assert page["faces"] > 200 and 0 < page["hints_same"] < page["hints"] / 2
    assert page["prefilled"] == 0 < page["prefilled_before"] - page["prefilled_before_same"]


def test_the_bench_refit_of_the_after_grouping_chance_recovers_a_known_one() -> None:
    """Pairs whose same-person rate is a known recalibration of their chance: the refit finds it."""
    from facefile_bench import left_apart as left_apart_bench

    rng = np.random.default_rng(5)
    n = 40_000
    chance = 1.0 / (1.0 + np.exp(-rng.uniform(-8.0, 8.0, n)))
    same = rng.random(n) < left_apart_bench.predict((-1.5, 0.9), chance)
    drawn = left_apart_bench.Merges("drawn", chance, chance, same, np.arange(n))
    got = left_apart_bench.fit([drawn])
    assert np.allclose(got, (-1.5, 0.9), atol=0.15), got
