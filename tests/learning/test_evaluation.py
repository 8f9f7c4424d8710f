"""Metrics on small hand-worked examples."""

import pytest

from affiliation_curator.learning.evaluation import (
    accuracy_at_1,
    auto_accept,
    evaluate,
    mrr,
    no_match_scores,
    recall_at_k,
    traits,
)

# Four rows: two matchable found at ranks 1 and 3, one matchable not found, one "no match".
GOLD = [["A"], ["B"], ["C"], []]
RANKED = [["A", "X"], ["X", "Y", "B"], ["X", "Y"], ["Z"]]


def test_recall_accuracy_mrr_by_hand():
    assert recall_at_k(GOLD, RANKED, 1) == pytest.approx(1 / 3)
    assert recall_at_k(GOLD, RANKED, 3) == pytest.approx(2 / 3)
    assert accuracy_at_1(GOLD, RANKED) == pytest.approx(1 / 3)
    assert mrr(GOLD, RANKED) == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_multi_id_rows_count_when_any_gold_id_is_found():
    assert recall_at_k([["A", "B"]], [["B"]], 1) == 1.0


def test_no_match_precision_recall_f1_by_hand():
    # predicted no-match on rows 3 and 4; only row 4 is truly no-match
    scores = no_match_scores(GOLD, ["A", "X", None, None])
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(1.0)
    assert scores["f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_auto_accept_precision_and_coverage_by_hand():
    acc = auto_accept(GOLD, ["A", "X", None, None])
    assert acc["precision"] == pytest.approx(0.5)  # A right, X wrong
    assert acc["coverage"] == pytest.approx(0.5)  # 2 of 4 rows decided


def test_empty_inputs_give_zero_not_errors():
    assert recall_at_k([], [], 5) == 0.0
    assert no_match_scores([["A"]], ["A"])["f1"] == 0.0


def test_traits():
    assert "non-ascii" in traits("Universität Wien")
    assert "multi-institution" in traits("Institut Pasteur, Paris; EPFL, Lausanne")
    assert "multi-institution" in traits("X", ["https://ror.org/1", "https://ror.org/2"])
    assert "short/acronym" in traits("EPFL")
    assert traits("Department of Physics, University of Oxford, Oxford, United Kingdom") == []


def test_report_splits_by_trait_and_prints():
    report = evaluate(GOLD, RANKED, ["A", "X", None, None], 0.5, ["EPFL", "Université B", "C; D", "Z"])
    assert report.n == 4 and report.n_matchable == 3 and report.n_no_match == 1
    assert report.by_trait["non-ascii"].n == 1
    text = report.to_text()
    assert "recall@20" in text and "no-match precision" in text and "-- short/acronym" in text
