"""Metrics of the matching engine against labelled gold rows (``{"affiliation", "ror_ids"}``).

Each metric takes the gold id lists and the engine's ranked candidate ids (and, for the
decision metrics, its match or None), so they are easy to check by hand:

- ``recall_at_k``: share of rows with a right answer whose candidates hold one of the gold ids
  within the first k;
- ``accuracy_at_1``: share of rows with a right answer whose first candidate is a gold id;
- ``mrr``: mean of 1 / rank of the first gold id (0 when absent), rows with a right answer;
- ``no_match_scores``: precision, recall and F1 of predicting "no match" (match None) against
  the rows whose right answer is "no match";
- ``auto_accept``: at the engine's threshold, precision = accepted matches that are right /
  accepted; coverage = accepted / all rows.

Rows with several gold ids (a string naming two institutions) count as found when any of
them is found; "right match" means the match is one of them. For those rows alone the report
also gives set recall (``set_recall_at_k``: the share of a row's gold ids among its first k
candidates, averaged over the rows) and, where the engine marked the institutions each part of
a string names (several.py), the set recall of that suggested set (else of the top candidate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from affiliation_curator.learning.levels import level_breakdown
from affiliation_curator.learning.levels import summary as level_summary
from affiliation_curator.text import acronym_tokens, institution_groups


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def recall_at_k(gold: Sequence[Sequence[str]], ranked: Sequence[Sequence[str]], k: int) -> float:
    rows = [(set(g), list(r)) for g, r in zip(gold, ranked) if g]
    return _div(sum(bool(g & set(r[:k])) for g, r in rows), len(rows))


def accuracy_at_1(gold: Sequence[Sequence[str]], ranked: Sequence[Sequence[str]]) -> float:
    return recall_at_k(gold, ranked, 1)


def set_recall_at_k(gold: Sequence[Sequence[str]], ranked: Sequence[Sequence[str]], k: int) -> float:
    """Mean share of the gold ids found within the first k candidates, over rows with several gold ids."""
    rows = [(set(g), list(r)) for g, r in zip(gold, ranked) if len(set(g)) > 1]
    return _div(sum(len(g & set(r[:k])) / len(g) for g, r in rows), len(rows))


def set_recall(gold: Sequence[Sequence[str]], chosen: Sequence[Sequence[str]]) -> float:
    """Mean share of the gold ids in a chosen set (what would be accepted), over rows with several gold ids."""
    rows = [(set(g), set(c)) for g, c in zip(gold, chosen) if len(set(g)) > 1]
    return _div(sum(len(g & c) / len(g) for g, c in rows), len(rows))


def mrr(gold: Sequence[Sequence[str]], ranked: Sequence[Sequence[str]]) -> float:
    total, n = 0.0, 0
    for g, r in zip(gold, ranked):
        if not g:
            continue
        n += 1
        gs = set(g)
        total += next((1.0 / rank for rank, i in enumerate(r, 1) if i in gs), 0.0)
    return _div(total, n)


def no_match_scores(gold: Sequence[Sequence[str]], matches: Sequence[str | None]) -> dict[str, float]:
    """Precision/recall/F1 of the "no match" answer; ``support`` = rows whose answer is no match."""
    predicted = [m is None for m in matches]
    actual = [not g for g in gold]
    tp = sum(p and a for p, a in zip(predicted, actual))
    precision = _div(tp, sum(predicted))
    recall = _div(tp, sum(actual))
    f1 = _div(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": float(sum(actual)),
            "predicted": float(sum(predicted))}


def auto_accept(gold: Sequence[Sequence[str]], matches: Sequence[str | None]) -> dict[str, float]:
    accepted = [(set(g), m) for g, m in zip(gold, matches) if m is not None]
    right = sum(m in g for g, m in accepted)
    return {"precision": _div(right, len(accepted)), "coverage": _div(len(accepted), len(matches)),
            "accepted": float(len(accepted))}


def traits(affiliation: str, gold_ids: Sequence[str] = ()) -> list[str]:
    """String traits the report splits by: non-ASCII, multi-institution, short/acronym."""
    out = []
    if any(ord(c) > 127 for c in affiliation):
        out.append("non-ascii")
    if len(gold_ids) > 1 or len(institution_groups(affiliation)) > 1:
        out.append("multi-institution")
    words = affiliation.split()
    if len(words) <= 3 or (acronym_tokens(affiliation) and len(words) <= 5):
        out.append("short/acronym")
    return out


@dataclass
class Report:
    """All metrics of one evaluation run (``to_text`` is what ``evaluate`` prints)."""

    n: int
    n_matchable: int
    n_no_match: int
    recall: dict[int, float]
    accuracy_at_1: float
    mrr: float
    no_match: dict[str, float]
    accept: dict[str, float]
    threshold: float
    by_trait: dict[str, "Report"]
    n_multi: int = 0  # rows with several gold ids (a string naming several institutions)
    set_recall: dict[int, float] = field(default_factory=dict)  # over those rows, by k
    suggested_set_recall: float | None = None  # of the set the engine suggests (its parts, else top 1)
    levels: dict[str, int] | None = None  # top-1 errors by relation to the gold (levels.py), with a registry

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "by_trait"}
        out["by_trait"] = {k: v.to_dict() for k, v in self.by_trait.items()}
        return out

    def lines(self, indent: str = "") -> list[str]:
        rec = "  ".join(f"recall@{k} {v:.3f}" for k, v in sorted(self.recall.items()))
        return [
            f"{indent}rows {self.n} (with a right answer {self.n_matchable}, 'no match' {self.n_no_match})",
            f"{indent}{rec}",
            f"{indent}accuracy@1 {self.accuracy_at_1:.3f}  MRR {self.mrr:.3f}",
            f"{indent}no-match precision {self.no_match['precision']:.3f}  recall {self.no_match['recall']:.3f}"
            f"  F1 {self.no_match['f1']:.3f}",
            f"{indent}auto-accept at threshold {self.threshold:.3f}: precision {_fig(self.accept['precision'], self.accept['accepted'])}"
            f"  coverage {self.accept['coverage']:.3f}",
        ] + self._multi_lines(indent) + (
            [f"{indent}{level_summary(self.levels)}"] if self.levels is not None else [])

    def _multi_lines(self, indent: str) -> list[str]:
        if not self.n_multi:
            return []
        rec = "  ".join(f"set recall@{k} {v:.3f}" for k, v in sorted(self.set_recall.items()))
        suggested = ("" if self.suggested_set_recall is None
                     else f"  suggested set {self.suggested_set_recall:.3f}")
        return [f"{indent}rows naming several institutions {self.n_multi}: {rec}{suggested}"]

    def to_text(self) -> str:
        out = self.lines()
        for name, sub in self.by_trait.items():
            out.append(f"-- {name}:")
            out.extend(sub.lines("   "))
        return "\n".join(out)


def _fig(value: float, support: float) -> str:
    """A figure, or n/a where it is undefined (nothing to divide by)."""
    return f"{value:.3f}" if support else "n/a"


def evaluate(
    gold: Sequence[Sequence[str]],
    ranked: Sequence[Sequence[str]],
    matches: Sequence[str | None],
    threshold: float,
    affiliations: Sequence[str] | None = None,
    ks: Sequence[int] = (1, 5, 10, 20),
    suggested: Sequence[Sequence[str]] | None = None,
    by_id: Mapping[str, Any] | None = None,
) -> Report:
    """Every metric over the rows; with ``affiliations`` also split by string trait. ``suggested``:
    per row, the institutions the engine suggests accepting together (for the set recall). With
    ``by_id`` (the registry's institutions by id) the top-1 errors counted by their relation to the gold."""
    gold = [list(g) for g in gold]
    report = Report(
        n=len(gold),
        n_matchable=sum(bool(g) for g in gold),
        n_no_match=sum(not g for g in gold),
        recall={k: recall_at_k(gold, ranked, k) for k in ks},
        accuracy_at_1=accuracy_at_1(gold, ranked),
        mrr=mrr(gold, ranked),
        no_match=no_match_scores(gold, matches),
        accept=auto_accept(gold, matches),
        threshold=threshold,
        by_trait={},
        n_multi=sum(len(set(g)) > 1 for g in gold),
        set_recall={k: set_recall_at_k(gold, ranked, k) for k in ks},
        suggested_set_recall=set_recall(gold, suggested) if suggested is not None else None,
        levels=level_breakdown(gold, ranked, by_id) if by_id is not None else None,
    )
    if not report.n_multi:
        report.set_recall, report.suggested_set_recall = {}, None
    if affiliations is not None:
        groups: dict[str, list[int]] = {"non-ascii": [], "multi-institution": [], "short/acronym": []}
        for i, (text, g) in enumerate(zip(affiliations, gold)):
            for t in traits(text, g):
                groups[t].append(i)
        for name, idx in groups.items():
            if idx:
                report.by_trait[name] = evaluate([gold[i] for i in idx], [ranked[i] for i in idx],
                                                 [matches[i] for i in idx], threshold, None, ks,
                                                 None if suggested is None else [suggested[i] for i in idx])
    return report
