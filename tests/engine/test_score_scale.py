"""Scores on one scale: calibration curves, the Matcher's use of them, and what the scale is called."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from affiliation_curator import config
from affiliation_curator.engine import score_scale as ss
from affiliation_curator.engine.calibration import Outcome
from affiliation_curator.engine.matcher import Matcher
from affiliation_curator.engine.reranker import LexicalScorer
from affiliation_curator.learning.recalibrate import outcome_curve
from fixtures.scorers import FakeScorer


def test_shipped_curves_map_monotonically_and_keep_the_order():
    grid = np.linspace(0, 1, 2001)
    small = ss.ScoreCurve.load(ss.small_curve_path())
    lexical = ss.load_lexical_curves()
    assert small is not None and lexical is not None
    assert len(lexical.sizes) >= 2 and 104 in lexical.sizes
    for name, curve in [("small", small)] + [(f"lexical {n} {k}", c) for n, t, r in
                                             zip(lexical.sizes, lexical.top, lexical.rest) for k, c in (("top", t), ("rest", r))]:
        mapped = curve.map(grid)
        assert np.all(np.diff(mapped) > 0), f"{name}: not strictly increasing"  # candidates keep their order
        assert mapped.min() >= 0 and mapped.max() <= 1
    assert "train side" in small.meta["fitted_on"] and "train side" in lexical.meta["fitted_on"]


def test_lexical_curves_keep_a_strings_order_and_read_the_registry_size():
    lexical = ss.load_lexical_curves()
    raw = [1.0, 1.0, 0.93, 0.5, 0.2]  # three look-alikes at the top of the retrieval score
    for size in (104, 2_000, 51_370):
        mapped = lexical.map_list(raw, size)
        assert mapped == sorted(mapped, reverse=True), (size, mapped)
        assert sum(f"{v:.2f}" == "1.00" for v in mapped) <= 1  # only the best can be a certainty
        assert mapped[1] < mapped[0]  # a second candidate at raw 1.00 is not as likely right as the best
    # the same raw 1.00 means more on a list of a hundred than among 51,370 look-alikes
    assert lexical.map_list([1.0], 104)[0] > lexical.map_list([1.0], 51_370)[0]


def test_a_fitted_curve_is_monotone_and_tracks_the_share_right():
    rng = np.random.default_rng(0)
    raw = rng.random(5000)
    right = rng.random(5000) < raw ** 3  # the raw score overstates: at 0.8 about half are right
    curve = ss.fit_curve(raw, right)
    assert np.all(np.diff(curve.map(np.linspace(0, 1, 500))) > 0)
    assert curve.map_one(0.8) == pytest.approx(0.8 ** 3, abs=0.08)
    again = ss.ScoreCurve.from_json(json.loads(json.dumps(curve.to_json())))
    assert np.allclose(again.map([0.1, 0.5, 0.9]), curve.map([0.1, 0.5, 0.9]))


@pytest.mark.parametrize("bad", [
    {"kind": "isotonic", "x": [0.0, 0.5, 0.4], "y": [0.0, 0.5, 0.6]},  # x goes back
    {"kind": "isotonic", "x": [0.0, 0.5, 1.0], "y": [0.0, 0.7, 0.6]},  # not monotone
    {"kind": "isotonic", "x": [0.0, 1.0], "y": [0.0, 1.5]},  # not a probability
    {"kind": "isotonic", "x": [0.0, 1.0], "y": [0.0]},
    {"kind": "pickle", "x": [0.0], "y": [0.0]},
    [1, 2],
])
def test_a_malformed_curve_is_refused(bad, tmp_path):
    with pytest.raises(ValueError):
        ss.ScoreCurve.from_json(bad)
    path = tmp_path / "curve.json"
    path.write_text(json.dumps(bad))
    assert ss.ScoreCurve.load(path) is None  # a broken file costs the curve, nothing else


def test_the_threshold_selects_comparable_precision_for_two_scorers_once_calibrated():
    """Two scorers with very different raw scales: above raw 0.8 one is right about 75% of the time,
    the other about 99%; after each one's curve (fitted on one labelled half) the same threshold selects
    candidates of comparable precision on the other half."""
    rng = np.random.default_rng(1)
    truth = rng.random(8000)  # the chance each string's top candidate is right
    right = rng.random(8000) < truth
    raws = {"optimistic": truth ** 0.3, "pessimistic": truth ** 3}
    fit, held = slice(0, 4000), slice(4000, 8000)
    precision = {}
    raw_precision = {}
    for name, raw in raws.items():
        curve = outcome_curve([Outcome(float(s), bool(r), False, "a") for s, r in zip(raw[fit], right[fit])])
        assert curve is not None
        p = curve.map(raw[held])
        precision[name] = right[held][p >= 0.8].mean()
        raw_precision[name] = right[held][raw[held] >= 0.8].mean()
    assert abs(raw_precision["optimistic"] - raw_precision["pessimistic"]) > 0.15  # the raw scales disagree
    assert abs(precision["optimistic"] - precision["pessimistic"]) < 0.05
    assert min(precision.values()) > 0.75  # and what they select is about as right as 0.8 says


def test_too_few_labelled_strings_make_no_curve():
    assert outcome_curve([Outcome(0.9, True, False, "a")] * 5) is None


# --------------------------------------------------------------------------- the Matcher


def test_an_uncalibrated_cross_encoder_is_labelled_so(registry, retriever):
    scorer = FakeScorer({"Technical University of Munich": 0.97, "Ludwig": 0.96})
    matcher = Matcher(registry, scorer, retriever=retriever)
    assert not matcher.scale.calibrated
    assert "uncalibrated" in matcher.scale.label and matcher.scale.short == "uncalibrated score"
    top = matcher.match("TU Munich, Munich, Germany").candidates
    assert [round(c.score, 2) for c in top[:2]] == [0.97, 0.96]  # its own scores, shown as they are


def test_a_cross_encoder_with_a_curve_in_its_card_shows_calibrated_probabilities(registry, retriever):
    raw = FakeScorer({"Technical University of Munich": 0.97, "Ludwig": 0.96})
    curve = ss.ScoreCurve(np.array([0.0, 0.5, 0.95, 1.0]), np.array([0.0, 0.1, 0.4, 0.9]),
                          {"fitted_on": "200 labelled strings this model did not train on (gold:x)"})
    calibrated = FakeScorer(raw.table)
    calibrated.card = {ss.CARD_KEY: curve.to_json()}
    calibrated.threshold = 0.96
    plain = Matcher(registry, raw, retriever=retriever).match("TU Munich, Munich, Germany")
    matcher = Matcher(registry, calibrated, retriever=retriever)
    assert matcher.scale.calibrated and "200 labelled strings" in matcher.scale.label
    got = matcher.match("TU Munich, Munich, Germany")
    assert [c.id for c in got.candidates] == [c.id for c in plain.candidates]  # same order
    assert got.candidates[0].score == pytest.approx(float(curve.map_one(0.97)), abs=1e-6)
    assert matcher.threshold == pytest.approx(float(curve.map_one(0.96)), abs=1e-4)  # the same decisions
    assert (got.match is None) == (plain.candidates[0].score < 0.96)


def test_a_broken_curve_in_a_card_leaves_the_scores_uncalibrated(registry, retriever):
    scorer = FakeScorer()
    scorer.card = {ss.CARD_KEY: {"kind": "isotonic", "x": [1, 0], "y": [0, 1]}}
    assert not Matcher(registry, scorer, retriever=retriever).scale.calibrated


@pytest.fixture(scope="module")
def demo_lexical_results():
    from affiliation_curator.registry import parse_registry_file

    institutions = parse_registry_file(config.DEMO_REGISTRY_PATH).institutions
    strings = [s for s in config.SAMPLE_AFFILIATIONS_PATH.read_text(encoding="utf-8").splitlines() if s.strip()]
    matcher = Matcher(institutions, LexicalScorer())
    return matcher, list(matcher.match_many(strings))


def test_the_lexical_scorer_on_the_demo_registry_no_longer_saturates(demo_lexical_results):
    from affiliation_curator.engine import combiner as cb

    matcher, results = demo_lexical_results
    # 104 records: the combiner + its small-registry curve (the lexical curves if the combiner was refitted since)
    fresh = ss.load_small_registry_curve(cb.Combiner.load(cb.SHIPPED_LEXICAL)) is not None
    assert (matcher.combiner is not None) == fresh and matcher.scale.calibrated
    for r in results:
        shown = [f"{c.score:.2f}" for c in r.candidates if c.evidence.scored]
        assert shown.count("1.00") <= 1, (r.affiliation, shown)
    tops = [r.candidates[0].score for r in results if r.candidates]
    assert len({round(s, 2) for s in tops}) >= 10  # the top candidates spread out, not a wall of 1.00
    assert sum(f"{s:.2f}" == "1.00" for s in tops) < len(tops) / 4


def test_without_the_combiner_the_lexical_score_goes_through_its_curve(demo_lexical_results):
    from affiliation_curator.registry import parse_registry_file

    institutions = parse_registry_file(config.DEMO_REGISTRY_PATH).institutions
    matcher = Matcher(institutions, LexicalScorer(), combiner=False)
    top_curve, _rest = ss.load_lexical_curves().pair_for(len(institutions))
    assert matcher.scale.calibrated and "lexical score curves" in matcher.scale.label
    assert matcher.threshold == pytest.approx(top_curve.map_one(0.765), abs=1e-4)
    cands = matcher.match("College of Saint Benedict and Saint John's University, Collegeville, MN, United States").candidates
    assert cands[0].score == pytest.approx(top_curve.map_one(cands[0].retrieval_score), abs=1e-6)
    assert all(c.retrieval_score >= 0.995 for c in cands[:3])  # three names matched in full ...
    assert cands[1].score < cands[0].score and cands[2].score < cands[0].score  # ... one best, not three certainties


def test_a_stale_small_registry_curve_is_not_used(monkeypatch, registry, retriever, tmp_path):
    """The small-registry curve is tied to the combiner it was fitted on (its ``created``): a refitted
    lexical combiner makes it stale, and a small registry is then scored without the combiner (on
    the lexical curves), never with a curve fitted on another one."""
    from affiliation_curator.engine import combiner as cb

    shipped = cb.Combiner.load(cb.SHIPPED_LEXICAL)
    path = tmp_path / ss.SMALL_CURVE_FILE
    monkeypatch.setattr(ss, "small_curve_path", lambda: path)
    monkeypatch.setattr(cb.Combiner, "load", classmethod(lambda cls, where: shipped))
    ss.ScoreCurve(np.array([0.0, 1.0]), np.array([0.0, 0.9]), {"combiner_created": shipped.meta.get("created")}).save(path)
    assert ss.load_small_registry_curve(shipped) is not None
    fresh = Matcher(registry, LexicalScorer(), retriever=retriever)
    assert fresh.combiner is shipped and "registries under" in fresh.scale.label
    ss.ScoreCurve(np.array([0.0, 1.0]), np.array([0.0, 0.9]), {"combiner_created": "2001-01-01T00:00:00Z"}).save(path)
    assert ss.load_small_registry_curve(shipped) is None
    stale = Matcher(registry, LexicalScorer(), retriever=retriever)
    assert stale.combiner is None and stale.scale.calibrated and "lexical score curves" in stale.scale.label


# --------------------------------------------------------------------------- real labels (shared data)


@pytest.mark.shared
def test_the_threshold_means_the_same_for_two_lexical_scorers_on_labelled_strings(shared_data):
    """Train-side gold strings against a ~1,500-record sample of the shared registry (their gold
    institutions plus random others): the lexical score through its curve and the combiner through
    the small-registry curve select top candidates of comparable precision at one threshold."""
    from affiliation_curator.curation.gold import read_gold, split
    from affiliation_curator.registry import parse_registry_file

    rows = [r for r in split(read_gold(shared_data / "gold" / "s2aff-train.jsonl"))[0] if r.scorable and r.ror_ids]
    random.Random(3).shuffle(rows)
    rows = rows[:150]
    everything = parse_registry_file(shared_data / "ror" / "ror-union-2026-06-23.json.gz").institutions
    by_id = {i.id: i for i in everything}
    wanted = {i for r in rows for i in r.ror_ids}
    others = random.Random(4).sample(sorted(set(by_id) - wanted), 1500 - len(wanted))
    sample = [by_id[i] for i in sorted(wanted | set(others))]
    precision = {}
    for name, combiner in (("lexical curve", False), ("combiner", True)):
        matcher = Matcher(sample, LexicalScorer(), combiner=combiner, detect_several=False)
        assert matcher.scale.calibrated
        tops = [(r.candidates[0].score, r.candidates[0].id in row.ror_ids)
                for r, row in zip(matcher.match_many([row.affiliation for row in rows]), rows) if r.candidates]
        above = [right for score, right in tops if score >= 0.8]
        assert len(above) >= 30, name
        precision[name] = sum(above) / len(above)
    assert abs(precision["lexical curve"] - precision["combiner"]) < 0.1, precision
    assert min(precision.values()) >= 0.8, precision


def test_calibrating_a_model_writes_its_curve_and_the_matcher_then_calls_its_scores_calibrated(registry, retriever):
    """`model calibrate` / `model train` (learning/recalibrate.calibrate_card): the curve fitted on the
    held-out strings goes into the card; a scorer carrying that card scores on the calibrated scale,
    and an old curve in the card is not fitted on again (the raw scores are read)."""
    from affiliation_curator.engine.reranker import ModelCard
    from affiliation_curator.learning.pairs import LabelledQuery
    from affiliation_curator.learning.recalibrate import calibrate_card

    by_id = {i.id: i for i in registry.institutions}
    queries = [LabelledQuery(f"Dept. {n}, {inst.name}, {inst.city}", [inst.id], "gold:t")
               for n in range(3) for inst in registry.institutions]
    queries += [LabelledQuery(f"Lab {n}, {inst.city}", [], "gold:t") for n in range(2) for inst in registry.institutions]
    scorer = FakeScorer({"Technical": 0.9, "Harvard": 0.8, "University of Oxford": 0.7})
    scorer.card = {ss.CARD_KEY: ss.ScoreCurve(np.array([0.0, 1.0]), np.array([0.0, 0.01])).to_json()}  # stale, absurd
    card = ModelCard(threshold=0.5)
    calibrate_card(card, queries, retriever, scorer, by_id, (0.0,), "accuracy", lambda message: None)
    curve = ss.card_curve(card.to_dict())
    assert curve is not None and 30 <= curve.meta["rows"] <= len(queries)  # strings with a candidate
    assert curve.x.max() >= 0.89  # fitted on the raw scores (up to 0.9), not on them through the stale curve (<= 0.01)
    calibrated = FakeScorer(scorer.table)
    calibrated.card = card.to_dict()
    calibrated.threshold = card.threshold
    matcher = Matcher(registry, calibrated, retriever=retriever)
    assert matcher.scale.calibrated and "did not train on (gold:t)" in matcher.scale.label
    assert matcher.threshold == pytest.approx(curve.map_one(card.threshold), abs=1e-4)
