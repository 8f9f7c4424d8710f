"""Calibrate a trained reranker: the accept threshold and the retrieval blend weight, chosen on
held-out labelled strings through the same retrieval the matcher uses, and written to the model's
card (``curator.json``); ``recalibrate`` redoes it for an existing model on new labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affiliation_curator.curation.gold import GoldRow, read_gold, split
from affiliation_curator.engine.calibration import DecisionMetrics, Outcome, calibrate_threshold
from affiliation_curator.engine.reranker import ModelCard, load_cross_encoder
from affiliation_curator.engine.score_scale import CARD_KEY, ScoreCurve, fit_curve
from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.institution import Institution
from affiliation_curator.learning.pairs import CALIBRATION_SHARE, LabelledQuery, Progress, institutions_of, is_heldout, retriever_for

RETRIEVAL_WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # blend weights tried in calibration


# --------------------------------------------------------------------------- evaluation


def calibrate_card(card: ModelCard, queries: Sequence[LabelledQuery], retriever: Any, scorer: Any,
                    by_id: dict[str, Institution], weights: Sequence[float], method: str,
                    say: Progress) -> tuple[float, DecisionMetrics, dict[str, dict[str, Any]]]:
    """Choose the retrieval weight and the threshold on ``queries``; write them into ``card``."""
    from affiliation_curator.engine.calibration import metrics_at

    # the model's own scale: no curve (an old one would be fitted on again) and no combiner in the way
    if isinstance(getattr(scorer, "card", None), dict):
        scorer.card = {k: v for k, v in scorer.card.items() if k != CARD_KEY}
    weight, outcomes, weight_table = calibrate_blend(queries, retriever, scorer, by_id, weights, progress=say)
    chosen = calibrate_threshold(outcomes, method=method)
    curve = outcome_curve(outcomes)
    if curve is not None:
        card.extra[CARD_KEY] = curve.to_json()
        say(f"score curve fitted on {curve.meta['rows']} held-out strings (top candidates)")
    else:
        card.extra.pop(CARD_KEY, None)
    by_source = {}
    for source in sorted({o.source for o in outcomes}):
        by_source[source] = metrics_at([o for o in outcomes if o.source == source], chosen.threshold).to_dict()
    card.retrieval_weight = weight
    card.threshold = chosen.threshold
    card.metrics = {
        **{k: v for k, v in card.metrics.items() if k == "run"},
        "calibration": chosen.to_dict(),
        "calibration_by_source": by_source,
        "retrieval_weight_accuracy": {str(k): v for k, v in weight_table.items()},
    }
    return weight, chosen, by_source


MIN_CURVE_ROWS = 30  # fewer labelled strings make a curve of noise: the scores stay uncalibrated


def outcome_curve(outcomes: Sequence[Outcome]) -> ScoreCurve | None:
    """The curve from the model's score (blended as the Matcher blends it) of each string's top
    candidate to the probability that it is right, fitted on labelled strings it did not train on.
    The Matcher maps every candidate's score and the card's threshold through it (score_scale.py)."""
    from datetime import datetime, timezone

    have = [o for o in outcomes if o.top_score is not None]
    if len(have) < MIN_CURVE_ROWS:
        return None
    sources = sorted({o.source for o in have})
    return fit_curve(np.array([o.top_score for o in have]), np.array([o.top_correct for o in have]),
                     fitted_on=f"{len(have):,} labelled strings this model did not train on ({', '.join(sources)})",
                     created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


def heldout_gold_queries(rows: Sequence[GoldRow], by_id: dict[str, Institution], kind: str,
                         share: float = CALIBRATION_SHARE) -> list[LabelledQuery]:
    """The rows ``gold_pairs`` holds out for calibration (never trained on), all of them."""
    return [
        LabelledQuery(r.affiliation, list(r.ror_ids), kind)
        for r in rows
        if r.answerable_in(by_id) and is_heldout(r.affiliation, share)
    ]


@dataclass
class CalibrationReport:
    model: str
    rows: int
    retrieval_weight: float
    calibration: dict[str, Any]
    calibration_by_source: dict[str, dict[str, Any]]

    def lines(self) -> list[str]:
        cal = self.calibration
        out = [
            f"model {self.model}: score = {1 - self.retrieval_weight:.1f} x reranker + {self.retrieval_weight:.1f} x retrieval",
            f"threshold {cal['threshold']:.3f} ({cal.get('method', '')}), on {self.rows} rows: precision "
            f"{cal['precision']:.3f}, coverage {cal['coverage']:.3f}, no-match F1 {cal['no_match_f1']:.3f}, "
            f"acc@1 {cal['acc_at_1']:.3f}",
        ]
        for source, m in sorted(self.calibration_by_source.items()):
            out.append(f"  {source}: {m['rows']} rows, acc@1 {m['acc_at_1']:.3f}, precision {m['precision']:.3f}, "
                       f"coverage {m['coverage']:.3f}, no-match F1 {m['no_match_f1']:.3f}")
        return out


def recalibrate(
    model_dir: Path | str,
    registry: Any,
    gold_files: Iterable[Path | str],
    *,
    heldout_only: bool = True,
    weights: Sequence[float] = RETRIEVAL_WEIGHTS,
    method: str = "accuracy",
    progress: Progress | None = None,
) -> CalibrationReport:
    """Choose a model's retrieval weight and threshold again on labelled rows; updates curator.json.

    ``heldout_only``: only the rows training held out of these files (the train side's
    calibration share; right for the files the model was trained on); else every row (for
    labelled files the model never saw, e.g. curators' decisions).
    """
    say = progress or (lambda message: None)
    by_id = {inst.id: inst for inst in institutions_of(registry)}
    queries: list[LabelledQuery] = []
    for path in gold_files:
        rows = read_gold(path)
        if heldout_only:
            picked = heldout_gold_queries(split(rows)[0], by_id, f"gold:{Path(path).name}")
        else:
            picked = [LabelledQuery(r.affiliation, list(r.ror_ids), f"gold:{Path(path).name}") for r in rows
                      if r.answerable_in(by_id)]
        say(f"{Path(path).name}: {len(picked)} rows to calibrate on")
        queries.extend(picked)
    return calibrate_on_queries(model_dir, registry, queries, weights=weights, method=method, progress=progress)


def calibrate_on_queries(
    model_dir: Path | str,
    registry: Any,
    queries: Sequence[LabelledQuery],
    *,
    weights: Sequence[float] = RETRIEVAL_WEIGHTS,
    method: str = "accuracy",
    progress: Progress | None = None,
) -> CalibrationReport:
    """Choose a model's retrieval weight and threshold on these labelled strings; updates curator.json."""
    say = progress or (lambda message: None)
    folder = Path(model_dir).expanduser().resolve()
    card = ModelCard.read(folder)
    if card is None:
        raise CuratorError(f"{folder} is not one of our model folders (no readable curator.json)")
    if not queries:
        raise InputError("no labelled rows to calibrate on (are their institutions in this registry?)")
    institutions = institutions_of(registry)
    by_id = {inst.id: inst for inst in institutions}
    retriever = retriever_for(registry, institutions)
    scorer = load_cross_encoder(folder, reuse=False)
    weight, chosen, by_source = calibrate_card(card, queries, retriever, scorer, by_id, weights, method, say)
    card.extra["calibrated_on"] = sorted({q.source for q in queries})
    card.write(folder)
    return CalibrationReport(str(folder), len(queries), weight, chosen.to_dict(), by_source)


class _MemoRetriever:
    """Wraps a retriever so repeated matcher runs over the same strings search once."""

    def __init__(self, retriever: Any) -> None:
        self.retriever = retriever
        self.institutions = retriever.institutions
        self._memo: dict[tuple[str, int], list[Any]] = {}

    def search_many(self, texts: Sequence[str], k: int = 50) -> list[list[Any]]:
        todo = list(dict.fromkeys(t for t in texts if (t, k) not in self._memo))
        if todo:
            for text, found in zip(todo, self.retriever.search_many(todo, k)):
                self._memo[(text, k)] = found
        return [self._memo[(t, k)] for t in texts]

    def search(self, text: str, k: int = 50) -> list[Any]:
        return self.search_many([text], k)[0]


def ranked_outcomes(
    queries: Sequence[LabelledQuery],
    retriever: Any,
    scorer: Any,
    by_id: dict[str, Institution],
) -> list[Outcome]:
    """Run the matcher (retrieve, rerank with ``scorer``) and record the top candidate per query.

    A query's ``exclude`` id is dropped from its candidates, as if the registry lacked it.
    """
    from affiliation_curator.engine.matcher import Matcher

    matcher = Matcher(list(by_id.values()), scorer=scorer, retriever=retriever, threshold=0.5, cascade="off",
                      combiner=False)  # every pair, on the model's own scale (a combiner has its own threshold)
    outcomes = []
    for q, result in zip(queries, matcher.match_many([q.affiliation for q in queries], batch_size=64)):
        cands = [c for c in result.candidates if c.id != q.exclude]
        if not cands:
            outcomes.append(Outcome(None, False, not q.ids, q.source))
        else:
            outcomes.append(Outcome(float(cands[0].score), cands[0].id in q.ids, not q.ids, q.source))
    return outcomes


def calibrate_blend(
    queries: Sequence[LabelledQuery],
    retriever: Any,
    scorer: Any,
    by_id: dict[str, Institution],
    weights: Sequence[float] = RETRIEVAL_WEIGHTS,
    progress: Progress | None = None,
) -> tuple[float, list[Outcome], dict[float, float]]:
    """The retrieval weight with the best accuracy@1 on the held-out rows (each source weighted
    equally); returns it, the outcomes at it, and accuracy@1 per weight. Scores are cached, so
    each extra weight costs only the matcher's bookkeeping."""
    memo = _MemoRetriever(retriever)
    best: tuple[float, float, list[Outcome]] | None = None
    table: dict[float, float] = {}
    original = getattr(scorer, "retrieval_weight", 0.0)
    try:
        for w in weights:
            scorer.retrieval_weight = w
            outcomes = ranked_outcomes(queries, memo, scorer, by_id)
            by_source: dict[str, list[bool]] = {}
            for o in outcomes:
                if not o.is_no_match:
                    by_source.setdefault(o.source, []).append(o.top_correct)
            acc = sum(sum(v) / len(v) for v in by_source.values()) / max(1, len(by_source))
            table[w] = round(acc, 4)
            if progress:
                progress(f"retrieval weight {w:.1f}: accuracy@1 {acc:.3f} (held-out rows, sources weighted equally)")
            if best is None or acc > best[0] + 1e-9:
                best = (acc, w, outcomes)
    finally:
        scorer.retrieval_weight = original
    assert best is not None
    return best[1], best[2], table
