"""The rerank cascade: which strings the cross-encoder reranks, and how deep (engine/cascade.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from affiliation_curator import config
from affiliation_curator.engine.cascade import FULL, SKIP, VERIFY, Cascade, CascadePolicy, make_cascade
from affiliation_curator.engine.matcher import Matcher
from fixtures.scorers import FakeScorer

TUM = "https://ror.org/02kkvpp62"




CLEAR = "Technical University of Munich, Munich, Germany"  # one institution named in full
VAGUE = "University, Munich"  # several look alike


def test_policy_decides_by_the_top_score_and_its_lead():
    policy = CascadePolicy(skip_at=0.9, skip_margin=0.2, verify_at=0.6, verify_margin=0.1, verify_n=2)
    assert policy.decide([0.95, 0.5, 0.1]) == SKIP
    assert policy.decide([0.1, 0.5, 0.95]) == SKIP  # any order
    assert policy.decide([0.95, 0.8]) == VERIFY  # high but not clear enough of the second: verify only
    assert policy.decide([0.7, 0.55]) == VERIFY
    assert policy.decide([0.7, 0.65]) == FULL  # lead 0.05 < 0.1
    assert policy.decide([0.5]) == FULL
    assert policy.decide([0.95]) == SKIP  # a single candidate leads by its whole score
    assert policy.decide([]) == FULL
    assert CascadePolicy().decide([1.0, 0.0]) == FULL  # the default policy changes nothing


def top_score(retriever, text: str) -> float:
    return retriever.search_many([text], k=20)[0][0].score


def calibrated(score: float, retriever) -> float:
    """A skipped string's best retrieval score as shown: on the calibrated scale (score_scale.py)."""
    from affiliation_curator.engine.score_scale import load_lexical_curves

    return load_lexical_curves().map_list([score], len(retriever.institutions))[0]


def test_a_confident_string_is_not_reranked_and_keeps_its_first_stage_order(registry, retriever):
    scorer = FakeScorer({"Technical": 0.9})
    clear, vague = top_score(retriever, CLEAR), top_score(retriever, VAGUE)
    assert clear > vague
    cascade = Cascade({"retrieval": CascadePolicy(skip_at=clear)})
    matcher = Matcher(registry, scorer, retriever=retriever, cascade=cascade)
    results = list(matcher.match_many([CLEAR, VAGUE], batch_size=10))
    asked = [a for call in scorer.calls for a, _ in call]
    assert CLEAR not in asked and VAGUE in asked  # only the unsure string cost model time
    assert cascade.counts == {SKIP: 1, FULL: 1}
    assert matcher.pairs_reranked == sum(len(call) for call in scorer.calls) > 0
    found = retriever.search_many([CLEAR], k=20)[0]
    skipped = results[0]
    assert [c.id for c in skipped.candidates] == [c.institution_id for c in found][: len(skipped.candidates)]
    assert skipped.candidates[0].score == pytest.approx(calibrated(clear, retriever))  # the retrieval score stands, calibrated
    assert skipped.match == TUM  # clear >= the scorer's threshold 0.5
    assert all(c.evidence.scored for c in skipped.candidates)  # the retrieval scores are scores of their own
    # the same string without the cascade is reranked as before
    plain = FakeScorer({"Technical": 0.9})
    Matcher(registry, plain, retriever=retriever, cascade="off").match(CLEAR)
    assert plain.calls and all(a == CLEAR for call in plain.calls for a, _ in call)


def test_verify_reranks_only_the_first_stage_top_and_can_still_say_no_match(registry, retriever):
    scorer = FakeScorer({"Technical": 0.2})  # the model doubts the top candidate
    cascade = Cascade({"retrieval": CascadePolicy(verify_at=0.0, verify_n=1)})
    result = Matcher(registry, scorer, retriever=retriever, cascade=cascade).match(CLEAR)
    assert [d for call in scorer.calls for _, d in call] == ["Technical University of Munich, Munich, Germany"]
    assert result.candidates[0].id == TUM and result.candidates[0].score == pytest.approx(0.2)
    assert all(c.score < 0.2 for c in result.candidates[1:])  # the others follow below the verified one
    assert result.match is None  # 0.2 < threshold 0.5: the cross-encoder's no still counts
    two = FakeScorer({"Technical": 0.9})
    Matcher(registry, two, retriever=retriever,
            cascade=Cascade({"retrieval": CascadePolicy(verify_at=0.0, verify_n=2)})).match(VAGUE)
    assert len({d for call in two.calls for _, d in call}) == 2


class FakeLexicalCombiner:
    """Stands in for a lexical combiner: probability 0.99 for Harvard Medical School, 0.01 for the rest."""

    threshold = 0.5
    uses_reranker = False

    def __init__(self):
        self.rows = 0

    def predict(self, x):
        self.rows += len(x)
        return np.array([0.99] + [0.01] * (len(x) - 1)) if len(x) else np.zeros(0)


def test_the_lexical_combiner_is_the_first_stage_when_there_is_one(registry, retriever):
    comb = FakeLexicalCombiner()
    cascade = Cascade({"retrieval": CascadePolicy(), "combiner": CascadePolicy(skip_at=0.98)}, lexical_combiner=comb)
    assert cascade.signal == "combiner"
    scorer = FakeScorer()
    result = Matcher(registry, scorer, retriever=retriever, cascade=cascade, combiner=False).match("Harvard, Boston")
    assert comb.rows > 0 and not scorer.calls  # the combiner said 0.99 for its first candidate: skipped
    found = retriever.search_many(["Harvard, Boston"], k=20)[0]
    assert result.candidates[0].id == found[0].institution_id and result.candidates[0].score == pytest.approx(0.99)


def test_the_setting_chooses_the_level_and_the_lexical_scorer_never_uses_it(registry, retriever, monkeypatch):
    from affiliation_curator.engine.cascade import POLICIES
    from affiliation_curator.engine.reranker import LexicalScorer

    monkeypatch.delenv("AFFILIATION_CURATOR_CASCADE")  # the suite's fixture turns it off
    default = Matcher(registry, FakeScorer(), retriever=retriever)
    assert isinstance(default.cascade, Cascade) and default.cascade.level == "on"  # the default
    assert default.cascade.signal == "retrieval" and default.cascade.policy == POLICIES["on"]["retrieval"]
    settings = config.Settings.load()
    settings.rerank_cascade = "off"
    settings.save()
    assert json.loads((config.home() / "settings.json").read_text())["rerank_cascade"] == "off"
    assert Matcher(registry, FakeScorer(), retriever=retriever).cascade is None
    monkeypatch.setenv("AFFILIATION_CURATOR_CASCADE", "fast")  # the environment wins over the file
    fast = Matcher(registry, FakeScorer(), retriever=retriever)
    assert fast.cascade.level == "fast" and fast.cascade.policy.verify_n == 2
    assert Matcher(registry, LexicalScorer(), retriever=retriever).cascade is None
    monkeypatch.setenv("AFFILIATION_CURATOR_CASCADE", "sideways")  # unknown: the default
    assert Matcher(registry, FakeScorer(), retriever=retriever).cascade.level == "on"
    assert make_cascade(False) is None and make_cascade("off") is None and make_cascade(True).level == "on"
    with pytest.raises(ValueError, match="one of off, on, fast"):
        make_cascade("warp")


def test_the_on_level_skips_a_clear_string_and_reranks_a_vague_one(registry, retriever):
    from affiliation_curator.engine.cascade import POLICIES

    policy = POLICIES["on"]["retrieval"]
    found = {t: retriever.search_many([t], k=20)[0] for t in (CLEAR, VAGUE)}
    assert policy.decide([c.score for c in found[CLEAR]]) == SKIP
    assert policy.decide([c.score for c in found[VAGUE]]) == FULL
    scorer = FakeScorer({"Technical": 0.9})
    list(Matcher(registry, scorer, retriever=retriever, cascade="on").match_many([CLEAR, VAGUE]))
    assert {a for call in scorer.calls for a, _ in call} == {VAGUE}


def test_a_failing_model_falls_back_with_the_cascade_on(registry, retriever):
    from affiliation_curator.errors import ScoringError

    class Broken(FakeScorer):
        model_id = "broken"

        def score(self, pairs):
            raise ScoringError("model 'broken' failed while scoring: boom")

    matcher = Matcher(registry, Broken(), retriever=retriever,
                      cascade=Cascade({"retrieval": CascadePolicy(skip_at=math.inf, verify_at=0.0)}))
    result = matcher.match(CLEAR)
    assert result.candidates and result.candidates[0].id == TUM
    assert matcher.notices and "broken" in matcher.notices[0]


def test_one_engine_serves_threads_and_each_keeps_its_skipped_strings(registry, retriever):
    from concurrent.futures import ThreadPoolExecutor

    clear = top_score(retriever, CLEAR)
    matcher = Matcher(registry, FakeScorer({"Technical": 0.9}), retriever=retriever,
                      cascade=Cascade({"retrieval": CascadePolicy(skip_at=clear)}))
    batches = [[CLEAR, VAGUE], [VAGUE, CLEAR], [CLEAR], [VAGUE]] * 6
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: list(matcher.match_many(b, batch_size=1)), batches))
    for batch, got in zip(batches, results):
        for text, result in zip(batch, got):
            if text == CLEAR:  # skipped: its retrieval score, never the halved "not reranked" one
                assert result.candidates[0].id == TUM and result.candidates[0].score == pytest.approx(calibrated(clear, retriever))


def test_the_shipped_lexical_combiner_is_the_first_stage_on_a_registry_of_its_size():
    from affiliation_curator.engine.cascade import POLICIES
    from affiliation_curator.engine.combiner import fitted_registry_size

    full = make_cascade("fast", registry_size=51_370)
    assert full.signal == "combiner" and full.policy == POLICIES["fast"]["combiner"]
    size = fitted_registry_size(full.lexical_combiner)
    assert size > 10_000  # fitted on a ROR-sized registry
    assert make_cascade("on", registry_size=size).policy == POLICIES["on"]["combiner"]
    # on a registry far smaller than the one it was fitted on its features mean other things
    small = make_cascade("fast", registry_size=104)
    assert small.signal == "retrieval" and small.policy == POLICIES["fast"]["retrieval"]
