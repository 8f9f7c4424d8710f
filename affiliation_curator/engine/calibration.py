"""The match decision: accept the top candidate when its score clears a threshold, else "no match".

The threshold is calibrated on labelled rows that were not trained on. For each row we know
the top candidate's score, whether that candidate is right, and whether the row has a right
answer at all ("no match" rows have none). At a threshold ``t``:

- accepted: rows whose top score >= t; **precision** = right accepts / accepts;
  **coverage** = accepts / all rows (the share the engine decides on its own);
- "no match" is predicted for the other rows; **no-match F1** is the F1 of that prediction
  against the rows whose right answer is "no match";
- **decision accuracy** = rows decided right (a right accept, or "no match" where none is right)
  / all rows.

``calibrate_threshold`` picks, by default (``method="accuracy"``), the threshold with the
highest decision accuracy, each source weighted equally so one big gold set does not decide
alone; ``method="precision"`` picks the highest-coverage threshold whose precision is at least
``target_precision`` (rows unweighted). The metrics returned are always unweighted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(slots=True)
class Outcome:
    """What the engine did with one labelled row."""

    top_score: float | None  # None: no candidate at all
    top_correct: bool  # the top candidate is one of the right answers
    is_no_match: bool  # the row's right answer is "no match"
    source: str = ""


@dataclass(slots=True)
class DecisionMetrics:
    threshold: float
    rows: int
    accepted: int
    precision: float
    coverage: float
    no_match_precision: float
    no_match_recall: float
    no_match_f1: float
    decision_accuracy: float
    acc_at_1: float  # top candidate right, over rows that have a right answer
    method: str = ""

    def to_dict(self) -> dict:
        # the threshold exactly as chosen (rounded, it would decide differently: see calibrate_threshold)
        return {k: (round(v, 4) if isinstance(v, float) and k != "threshold" else v) for k, v in asdict(self).items()}

    def summary(self) -> str:
        return (
            f"threshold {self.threshold:.3f}: precision {self.precision:.3f}, coverage {self.coverage:.3f}, "
            f"no-match F1 {self.no_match_f1:.3f}, decision accuracy {self.decision_accuracy:.3f}, "
            f"acc@1 {self.acc_at_1:.3f} ({self.rows} rows)"
        )


def _arrays(outcomes: Sequence[Outcome]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = np.array([-1.0 if o.top_score is None else o.top_score for o in outcomes], dtype=np.float64)
    correct = np.array([o.top_correct for o in outcomes], dtype=bool)
    nomatch = np.array([o.is_no_match for o in outcomes], dtype=bool)
    return scores, correct, nomatch


def _weights(outcomes: Sequence[Outcome], balance_sources: bool) -> np.ndarray:
    if not balance_sources:
        return np.ones(len(outcomes))
    counts = Counter(o.source for o in outcomes)
    return np.array([len(outcomes) / (len(counts) * counts[o.source]) for o in outcomes])


def _div(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def metrics_at(outcomes: Sequence[Outcome], threshold: float, weights: np.ndarray | None = None,
               method: str = "") -> DecisionMetrics:
    """Decision metrics at one threshold (optionally weighted rows)."""
    return _metrics(_arrays(outcomes), threshold, weights, method)


def _metrics(arrays: tuple[np.ndarray, np.ndarray, np.ndarray], threshold: float, weights: np.ndarray | None,
             method: str = "") -> DecisionMetrics:
    scores, correct, nomatch = arrays
    w = np.ones(len(scores)) if weights is None else weights
    accept = scores >= threshold
    total = w.sum()
    acc_w = w[accept].sum()
    right_acc = w[accept & correct].sum()
    pred_nm = ~accept
    nm_tp = w[pred_nm & nomatch].sum()
    nm_p = _div(nm_tp, w[pred_nm].sum())
    nm_r = _div(nm_tp, w[nomatch].sum())
    matchable = ~nomatch
    return DecisionMetrics(
        threshold=float(threshold),
        rows=len(scores),
        accepted=int(accept.sum()),
        precision=_div(right_acc, acc_w),
        coverage=_div(acc_w, total),
        no_match_precision=nm_p,
        no_match_recall=nm_r,
        no_match_f1=_div(2 * nm_p * nm_r, nm_p + nm_r),
        decision_accuracy=_div(right_acc + nm_tp, total),
        acc_at_1=_div(w[matchable & correct].sum(), w[matchable].sum()),
        method=method,
    )


def calibrate_threshold(
    outcomes: Sequence[Outcome],
    method: str = "accuracy",
    target_precision: float = 0.95,
    balance_sources: bool = True,
    default: float = 0.5,
) -> DecisionMetrics:
    """The calibrated threshold and its (unweighted) metrics; see the module docstring."""
    if method not in {"accuracy", "precision"}:
        raise ValueError(f"unknown calibration method {method!r}")
    if not outcomes:
        return metrics_at([], default, method=f"{method} (no data: default)")
    w = _weights(outcomes, balance_sources and method == "accuracy")
    scores = np.unique(np.array([o.top_score for o in outcomes if o.top_score is not None]))
    # candidate thresholds: midpoints between neighbouring scores, and just above / below all
    mids = (scores[1:] + scores[:-1]) / 2 if len(scores) > 1 else np.array([])
    grid = np.concatenate([[0.0], mids, [min(1.0, scores.max() + 1e-6) if len(scores) else 1.0]])
    arrays = _arrays(outcomes)
    best: tuple[tuple[float, float], float] | None = None
    for t in grid:
        m = _metrics(arrays, float(t), w)
        if method == "accuracy":
            key = (m.decision_accuracy, m.precision)
        else:
            if m.precision < target_precision or m.accepted == 0:
                continue
            key = (m.coverage, m.precision)
        if best is None or key > best[0]:
            best = (key, float(t))
    if best is None:  # no threshold reaches the target precision: accept nothing automatically
        chosen, label = 1.0, f"precision>={target_precision} (unreachable: threshold 1.0)"
    else:
        chosen = best[1]
        label = "max decision accuracy (sources weighted equally)" if method == "accuracy" else f"max coverage at precision>={target_precision}"
    # not rounded: calibrated scores tie-broken by a millionth lie closer together than any rounding
    # step, and a rounded threshold would accept a whole block of them the choice had left out
    return metrics_at(outcomes, chosen, method=label)
