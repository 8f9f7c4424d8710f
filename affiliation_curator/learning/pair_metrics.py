"""Metrics of a scorer on labelled pairs (``query``, ``document``, ``label``): the seed's metrics.

Pairs are grouped by query. Ranking metrics — ``map``, ``mrr@10``, ``ndcg@10`` — come from
sentence-transformers' ``CrossEncoderRerankingEvaluator`` over the queries that have a right
document (the evaluator counts a query without one as 0). Decision metrics use every query:
the top-scored document is the answer when its score clears the threshold, else "no match"
(a tie between a right and a wrong document counts as wrong):

- ``accuracy@1``: queries with a right document whose top document is right;
- ``no-match precision/recall/F1``: the "no match" answer against the queries without a right
  document (curators' "none of these");
- ``auto-accept precision`` and ``coverage`` at the threshold.

Any scorer works (our cross-encoders, the hub model, the lexical fallback): the evaluator is
handed a thin adapter whose ``predict`` returns the scorer's 0-1 scores, so a pair is scored
once for both kinds of metric (scorers cache their scores).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TYPE_CHECKING

import numpy as np

from affiliation_curator.learning.evaluation import accuracy_at_1, auto_accept, no_match_scores

if TYPE_CHECKING:
    from affiliation_curator.engine.reranker import Scorer

AT_K = 10
METRIC_NAMES = ["map", f"mrr@{AT_K}", f"ndcg@{AT_K}", "accuracy@1", "no-match precision", "no-match recall",
                "no-match F1", "auto-accept precision", "coverage"]


def _triple(row: Any) -> tuple[str, str, float]:
    if isinstance(row, Mapping):
        return str(row["query"]), str(row["document"]), float(row["label"])
    if isinstance(row, (tuple, list)):
        return str(row[0]), str(row[1]), float(row[2])
    return str(row.query), str(row.document), float(row.label)


def rerank_samples(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """``{"query", "positive": [...], "negative": [...]}`` per query, in first-seen order
    (rows are dicts, (query, document, label) tuples or objects with those attributes)."""
    samples: dict[str, dict[str, Any]] = {}
    for row in rows:
        query, document, label = _triple(row)
        sample = samples.setdefault(query, {"query": query, "positive": [], "negative": []})
        side = sample["positive"] if label >= 0.5 else sample["negative"]
        if document not in sample["positive"] and document not in sample["negative"]:
            side.append(document)
    return list(samples.values())


class _ModelCardData:
    def set_evaluation_metrics(self, *args: Any, **kwargs: Any) -> None:  # the evaluator records metrics here
        return None


class ScorerModel:
    """What ``CrossEncoderRerankingEvaluator`` calls: ``predict(pairs)`` -> the scorer's scores."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.model_card_data = _ModelCardData()

    def predict(self, pairs: Sequence[Sequence[str]], **kwargs: Any) -> np.ndarray:
        return np.asarray(self.scorer.score([(str(a), str(b)) for a, b in pairs]), dtype=np.float64)


def ranking_metrics(scorer: Scorer, samples: Sequence[dict[str, Any]], at_k: int = AT_K) -> dict[str, float] | None:
    """map, mrr@k, ndcg@k from CrossEncoderRerankingEvaluator (None without a query that has a right document)."""
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    usable = [s for s in samples if s["positive"]]
    if not usable:
        return None
    evaluator = CrossEncoderRerankingEvaluator(usable, at_k=at_k, write_csv=False, batch_size=64)
    result = evaluator(ScorerModel(scorer))
    return {key: float(result[key]) for key in ("map", f"mrr@{at_k}", f"ndcg@{at_k}")}


def pair_metrics(scorer: Scorer, rows: Iterable[Any], threshold: float | None = None) -> dict[str, float | None]:
    """Every metric of the module docstring; ``threshold`` defaults to the scorer's own."""
    samples = rerank_samples(rows)
    t = float(getattr(scorer, "threshold", 0.5) if threshold is None else threshold)
    out: dict[str, float | None] = {name: None for name in METRIC_NAMES}
    out.update({"queries": float(len(samples)), "queries with a right document": float(sum(bool(s["positive"]) for s in samples)),
                "threshold": t})
    if not samples:
        return out
    ranking = ranking_metrics(scorer, samples)
    if ranking:
        out.update(ranking)
    # negatives first: a tie between a right and a wrong document is not counted as right
    pairs = [(s["query"], d) for s in samples for d in s["negative"] + s["positive"]]
    scores = scorer.score(pairs) if pairs else np.zeros(0)
    gold, ranked, matches = [], [], []
    offset = 0
    for s in samples:
        docs = s["negative"] + s["positive"]
        part = np.asarray(scores[offset : offset + len(docs)], dtype=np.float64)
        offset += len(docs)
        order = [docs[i] for i in np.argsort(-part, kind="stable")]
        gold.append(list(s["positive"]))
        ranked.append(order)
        matches.append(order[0] if docs and float(part.max()) >= t else None)
    if any(gold):
        out["accuracy@1"] = accuracy_at_1(gold, ranked)
    nm = no_match_scores(gold, matches)
    if nm["support"]:
        out["no-match precision"], out["no-match recall"], out["no-match F1"] = nm["precision"], nm["recall"], nm["f1"]
    accept = auto_accept(gold, matches)
    out["auto-accept precision"] = accept["precision"] if accept["accepted"] else None
    out["coverage"] = accept["coverage"]
    return out
