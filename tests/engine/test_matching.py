"""The Matcher: reranking by a scorer, evidence, decisions, bad input."""

from __future__ import annotations

import pytest

from affiliation_curator.engine.results import MatchResult
from affiliation_curator.engine.documents import document_text
from affiliation_curator.engine.matcher import Matcher
from fixtures.scorers import FakeScorer


TUM = "https://ror.org/02kkvpp62"
LMU = "https://ror.org/05591te55"




def test_document_text_is_name_city_country(registry):
    tum = registry.get(TUM)
    assert document_text(tum) == "Technical University of Munich, Munich, Germany"
    berkeley = registry.get("https://ror.org/01an7q238")
    assert document_text(berkeley).split(",")[0] == "University of California Berkeley"


def test_scores_come_from_the_scorer_and_decide_the_order(registry, retriever):
    scorer = FakeScorer({"Ludwig": 0.9, "Technical University of Munich": 0.3})
    result = Matcher(registry, scorer, retriever=retriever).match("TU Munich, Munich, Germany")
    assert result.candidates[0].id == LMU and result.candidates[0].score == pytest.approx(0.9)
    assert result.match == LMU  # 0.9 >= threshold 0.5
    assert result.model == "fake" and result.threshold == 0.5
    assert all(0.0 <= c.score <= 1.0 for c in result.candidates)


def test_below_threshold_is_no_match(registry, retriever):
    result = Matcher(registry, FakeScorer(), retriever=retriever).match("TU Munich")
    assert result.candidates and result.match is None
    result = Matcher(registry, FakeScorer(), retriever=retriever, threshold=0.05).match("TU Munich")
    assert result.match == result.candidates[0].id


def test_identical_strings_are_scored_once_and_order_is_kept(registry, retriever):
    scorer = FakeScorer({"Technical": 0.9})
    texts = ["TUM", "EPFL", "TUM", "", "TUM"]
    results = list(Matcher(registry, scorer, retriever=retriever).match_many(texts, batch_size=10))
    assert [r.affiliation for r in results] == texts
    asked = [a for call in scorer.calls for a, _ in call]
    assert asked.count("TUM") == len({d for a, d in scorer.calls[0] if a == "TUM"})
    assert results[0].to_json() == results[2].to_json()


def test_progress_is_reported(registry, retriever):
    seen = []
    list(Matcher(registry, FakeScorer(), retriever=retriever).match_many(["TUM", "LMU", "EPFL"], batch_size=2,
                                                                        progress=lambda d, t: seen.append((d, t))))
    assert seen == [(2, 3), (3, 3)]


def test_evidence_fields(registry, retriever):
    scorer = FakeScorer({"Harvard Medical": 0.9, "Harvard University": 0.6, "Old Institute": 0.8})
    matcher = Matcher(registry, scorer, retriever=retriever)
    result = matcher.match("Dept. of Genetics, Harvard Medical School, Boston, MA, USA")
    top = result.candidates[0]
    assert top.evidence.matched_name == "Harvard Medical School" and top.evidence.name_type == "ror_display"
    assert top.evidence.city_match is True and top.evidence.country_match is True
    assert any("part of candidate" in r and "Harvard University" in r for r in top.evidence.relations)
    parent = next(c for c in result.candidates if c.name == "Harvard University")
    assert any("parent of candidate 1" in r for r in parent.evidence.relations)
    old = matcher.match("Old Institute of Chemistry, Lyon, France").candidates[0]
    assert old.status == "inactive" and "successor: New Institute of Chemistry" in old.evidence.status_note
    assert old.evidence.summary()


@pytest.mark.parametrize("bad", ["", "   \t", "\x00\x01\x02\x03\x04\x05\x06\x07", b"\xff\xfe\x00\x01\x02\x03\x04\x05"])
def test_bad_strings_give_a_result_with_a_note(registry, retriever, bad):
    result = Matcher(registry, FakeScorer(), retriever=retriever).match(bad)
    assert isinstance(result, MatchResult) and result.candidates == [] and result.match is None and result.notes


def test_a_100_kb_string_is_cut_with_a_note(registry, retriever):
    result = Matcher(registry, FakeScorer({"Technical": 0.9}), retriever=retriever).match("TUM Munich " * 10_000)
    assert any("cut" in n for n in result.notes)
    assert result.candidates[0].id == TUM


def test_lexical_fallback_gives_useful_scores(registry, retriever):
    from affiliation_curator.engine.reranker import LexicalScorer

    matcher = Matcher(registry, LexicalScorer(), retriever=retriever)
    result = matcher.match("Department of Physics, Technische Universitat Munchen, Garching, Germany")
    assert result.candidates[0].id == TUM
    assert 0.0 < result.candidates[0].score <= 1.0
    assert matcher.match("EPFL").candidates[0].id == "https://ror.org/02s376052"


def test_tiny_cross_encoder_scores_pairs(registry, retriever, tiny_cross_encoder_dir):
    from affiliation_curator.engine.reranker import load_cross_encoder

    scorer = load_cross_encoder(tiny_cross_encoder_dir)
    result = Matcher(registry, scorer, retriever=retriever, top_k=3).match("TU Munich, Germany")
    assert len(result.candidates) == 3
    assert all(0.0 <= c.score <= 1.0 for c in result.candidates)
    assert [c.score for c in result.candidates] == sorted((c.score for c in result.candidates), reverse=True)
    assert result.model == scorer.model_id


def test_only_close_candidates_are_reranked_and_the_rest_follow_below(registry, retriever):
    scorer = FakeScorer({"Technical": 0.9})
    matcher = Matcher(registry, scorer, retriever=retriever, top_k=10, n_retrieve=10, n_rerank=3)
    result = matcher.match("Technical University of Munich, Munich, Germany")
    asked = [d for call in scorer.calls for _, d in call]
    assert 2 <= len(asked) <= 3
    examined = [c for c in result.candidates if c.document in asked]
    rest = [c for c in result.candidates if c.document not in asked]
    assert examined and all(r.score < min(e.score for e in examined) for r in rest)
