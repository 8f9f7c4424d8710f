"""Pair metrics (the seed's map/mrr@10/ndcg@10 via CrossEncoderRerankingEvaluator, accuracy@1, no-match)."""

from __future__ import annotations

import numpy as np
import pytest

from affiliation_curator.learning.pair_metrics import pair_metrics, rerank_samples


class DictScorer:
    """Scores from a table; unknown pairs 0."""

    model_id = "dict"

    def __init__(self, table: dict[tuple[str, str], float], threshold: float = 0.5) -> None:
        self.table = table
        self.threshold = threshold
        self.calls = 0

    def score(self, pairs):
        self.calls += 1
        return np.array([self.table.get(tuple(p), 0.0) for p in pairs], dtype=np.float32)


ROWS = [
    {"query": "q1", "document": "right1", "label": 1},
    {"query": "q1", "document": "wrong1", "label": 0},
    {"query": "q1", "document": "wrong1", "label": 0},  # a repeat counts once
    {"query": "q2", "document": "right2", "label": 1},
    {"query": "q2", "document": "wrong2a", "label": 0},
    {"query": "q2", "document": "wrong2b", "label": 0},
    {"query": "q3", "document": "wrong3", "label": 0},  # "none of these"
]


def test_rerank_samples_group_by_query():
    samples = rerank_samples(ROWS)
    assert [s["query"] for s in samples] == ["q1", "q2", "q3"]
    assert samples[0] == {"query": "q1", "positive": ["right1"], "negative": ["wrong1"]}
    assert samples[2]["positive"] == [] and samples[2]["negative"] == ["wrong3"]
    assert rerank_samples([("a", "b", 1.0)]) == [{"query": "a", "positive": ["b"], "negative": []}]


def test_metrics_by_hand():
    scorer = DictScorer({
        ("q1", "right1"): 0.9, ("q1", "wrong1"): 0.2,  # right first, accepted
        ("q2", "right2"): 0.4, ("q2", "wrong2a"): 0.6, ("q2", "wrong2b"): 0.1,  # right second; wrong accepted
        ("q3", "wrong3"): 0.3,  # below the threshold: "no match", rightly
    })
    m = pair_metrics(scorer, ROWS)
    assert m["queries"] == 3 and m["queries with a right document"] == 2 and m["threshold"] == 0.5
    assert m["mrr@10"] == pytest.approx((1 + 1 / 2) / 2)
    assert m["map"] == pytest.approx((1 + 1 / 2) / 2)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3)) / 2)
    assert m["accuracy@1"] == pytest.approx(0.5)
    assert m["no-match precision"] == 1.0 and m["no-match recall"] == 1.0
    assert m["auto-accept precision"] == pytest.approx(0.5) and m["coverage"] == pytest.approx(2 / 3)
    stricter = pair_metrics(scorer, ROWS, threshold=0.95)
    assert stricter["coverage"] == 0 and stricter["auto-accept precision"] is None
    assert stricter["no-match precision"] == pytest.approx(1 / 3) and stricter["no-match recall"] == 1.0


def test_a_tie_is_not_a_right_answer_and_empty_input():
    flat = DictScorer({}, threshold=0.0)
    m = pair_metrics(flat, ROWS)
    assert m["accuracy@1"] == 0.0
    empty = pair_metrics(flat, [])
    assert empty["queries"] == 0 and empty["map"] is None and empty["accuracy@1"] is None
    only_none = pair_metrics(flat, [ROWS[-1]])
    assert only_none["map"] is None and only_none["accuracy@1"] is None and only_none["no-match recall"] == 0.0
