"""Evaluate any model on labelled rows: the curators' decisions or a gold file.

    rows = gold_from_store(store, batch_ids=[3])          # accept -> [id], none of these -> []
    run = evaluate_rows(matcher, rows, limit=200)         # one matcher pass, kept per row
    run.report(0.7).to_text()                             # evaluation.Report at any threshold
    run.curve()                                           # auto-accept precision against coverage
    run.errors(0.7)                                       # what went wrong, row by row

The matcher runs once; every threshold after that is arithmetic on the kept top scores, so a
threshold slider costs nothing. Metrics are those of ``evaluation`` (retrieval recall@k,
accuracy@1, MRR, no-match precision/recall/F1, auto-accept precision and coverage) and the
decision metrics of ``calibration`` for the curve.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TYPE_CHECKING

from affiliation_curator.engine.calibration import Outcome, metrics_at
from affiliation_curator.errors import InputError
from affiliation_curator.learning.evaluation import Report, evaluate
from affiliation_curator.curation.gold import GoldRow

if TYPE_CHECKING:
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.curation.store import Store

ProgressFn = Callable[[int, int], None]

CURVE_STEPS = 100  # thresholds 0.00, 0.01, ... 1.00 (plus the model's own)
RECALL_KS = (1, 5, 10, 20, 50)


@dataclass(slots=True)
class EvalRow:
    """One labelled string with the engine's ranked candidates."""

    affiliation: str
    expected: list[str]  # right institution ids; [] = "no institution is right"
    candidates: list[tuple[str, str, float]]  # (id, name, score), best first
    expected_names: list[str] = field(default_factory=list)
    source: str = ""
    several: list[str] = field(default_factory=list)  # ids the parts of a string naming several name

    @property
    def suggested(self) -> list[str]:
        """What a curator following the engine would accept together: the institutions the parts
        name, else the top candidate."""
        return list(self.several) or ([self.top_id] if self.top_id else [])

    @property
    def top_score(self) -> float | None:
        return self.candidates[0][2] if self.candidates else None

    @property
    def top_id(self) -> str | None:
        return self.candidates[0][0] if self.candidates else None

    def predicted(self, threshold: float) -> str | None:
        """The accepted id at this threshold, or None ("no match")."""
        top = self.top_score
        return self.top_id if top is not None and top >= threshold else None

    def correct(self, threshold: float) -> bool:
        predicted = self.predicted(threshold)
        return predicted is None if not self.expected else predicted in self.expected

    @property
    def expected_rank(self) -> int | None:
        """1-based rank of the first right institution among the candidates (None: not listed)."""
        wanted = set(self.expected)
        return next((n for n, (i, _, _) in enumerate(self.candidates, 1) if i in wanted), None)

    @property
    def expected_score(self) -> float | None:
        rank = self.expected_rank
        return self.candidates[rank - 1][2] if rank else None


@dataclass
class EvalRun:
    """One matcher pass over labelled rows; metrics at any threshold."""

    rows: list[EvalRow]
    model_id: str
    threshold: float  # the model's own decision threshold
    registry_name: str = ""
    source: str = ""  # what the rows are (a batch, a gold file)
    fallback_reason: str = ""  # why another scorer stood in for the model asked for
    left_out: int = 0  # rows not scored (gold ids not in the registry)
    sampled_from: int = 0  # rows available before the sample-size cap
    seconds: float = 0.0
    top_k: int = 10  # candidates kept per row (recall is reported up to this rank)

    def report(self, threshold: float | None = None) -> Report:
        t = self.threshold if threshold is None else float(threshold)
        return evaluate(
            [r.expected for r in self.rows],
            [[c[0] for c in r.candidates] for r in self.rows],
            [r.predicted(t) for r in self.rows],
            t,
            [r.affiliation for r in self.rows],
            ks=[k for k in RECALL_KS if k <= self.top_k] or [1],
            suggested=[r.suggested for r in self.rows],
        )

    def outcomes(self) -> list[Outcome]:
        return [
            Outcome(r.top_score, r.top_id in r.expected if r.top_id else False, not r.expected, r.source)
            for r in self.rows
        ]

    def summary(self, threshold: float | None = None) -> dict[str, float | None]:
        """The headline figures at a threshold (one row of a metrics table); None where a figure is
        undefined (auto-accept precision with nothing accepted, no-match precision with nothing
        answered "no match", recall with nothing to find), which tables show as n/a."""
        t = self.threshold if threshold is None else float(threshold)
        report = self.report(t)
        decision = metrics_at(self.outcomes(), t)
        nm = report.no_match
        matchable = report.n_matchable > 0
        return {
            "rows": float(report.n),
            "accuracy@1": report.accuracy_at_1 if matchable else None,
            "MRR": report.mrr if matchable else None,
            **{f"recall@{k}": (v if matchable else None) for k, v in sorted(report.recall.items())},
            "no-match precision": nm["precision"] if nm["predicted"] else None,
            "no-match recall": nm["recall"] if nm["support"] else None,
            "no-match F1": nm["f1"] if nm["predicted"] or nm["support"] else None,
            **({f"set recall@{max(report.set_recall)} (several institutions)": report.set_recall[max(report.set_recall)],
                "suggested set recall (several institutions)": report.suggested_set_recall}
               if report.set_recall else {}),
            "auto-accept precision": report.accept["precision"] if report.accept["accepted"] else None,
            "coverage": report.accept["coverage"],
            "decision accuracy": decision.decision_accuracy,
            "threshold": t,
        }

    def curve(self, steps: int = CURVE_STEPS) -> list[dict[str, float]]:
        """Auto-accept precision and coverage at thresholds 0..1 (and the model's own), low to high."""
        outcomes = self.outcomes()
        grid = sorted({round(i / steps, 4) for i in range(steps + 1)} | {round(self.threshold, 4)})
        out = []
        for t in grid:
            m = metrics_at(outcomes, t)
            out.append({
                "threshold": t, "precision": m.precision, "coverage": m.coverage, "accepted": float(m.accepted),
                "no_match_f1": m.no_match_f1, "decision_accuracy": m.decision_accuracy,
            })
        return out

    def errors(self, threshold: float | None = None) -> list[dict[str, Any]]:
        """Rows decided wrongly at the threshold: string, expected, predicted, scores."""
        t = self.threshold if threshold is None else float(threshold)
        out = []
        for r in self.rows:
            if r.correct(t):
                continue
            predicted = r.predicted(t)
            names = {i: n for i, n, _ in r.candidates}
            if not r.expected:
                kind = "false match (should be no match)"
            elif predicted is None:
                kind = "missed (answered no match)"
            else:
                kind = "wrong institution"
            expected = "; ".join(
                f"{name} ({i})" if name else i
                for i, name in zip(r.expected, r.expected_names + [""] * len(r.expected))
            ) or "no match"
            out.append({
                "affiliation": r.affiliation,
                "error": kind,
                "expected": expected,
                "predicted": f"{names.get(predicted, '')} ({predicted})" if predicted else "no match",
                "top candidate": f"{r.candidates[0][1]} ({r.candidates[0][0]})" if r.candidates else "",
                "top score": r.top_score,
                "expected score": r.expected_score,
                "expected rank": r.expected_rank,
                "source": r.source,
            })
        return out


def gold_from_store(store: Store, batch_ids: Sequence[int] | None = None, curators: Sequence[str] | None = None) -> list[GoldRow]:
    """The curators' current answers as gold rows: accept -> [institution ids] (several where the
    string names several institutions), none of these -> [].

    A string decided in several batches counts once, with its latest decision.
    """
    wanted = {c.strip() for c in curators or [] if c and c.strip()} or None
    infos = store.batches()
    if batch_ids is not None:
        chosen = set(batch_ids)
        infos = [b for b in infos if b.id in chosen]
    latest: dict[str, tuple[Any, GoldRow]] = {}
    for info in sorted(infos, key=lambda b: b.id):
        for row in store.table(info.id):
            if row["decision"] not in ("accept", "none") or (wanted and row["curator"] not in wanted):
                continue
            ids = (list(row.get("institution_ids") or [row["institution_id"]])
                   if row["decision"] == "accept" and row["institution_id"] else [])
            if row["decision"] == "accept" and not ids:
                continue
            key = row["affiliation"]
            when = row["decided_at"]
            old = latest.get(key)
            if old is None or (when is not None and (old[0] is None or when >= old[0])):
                latest[key] = (when, GoldRow(row["affiliation"], ids, info.name))
    return [gold for _, gold in latest.values()]


def sample_rows(rows: Sequence[GoldRow], limit: int | None, seed: int = 13) -> list[GoldRow]:
    """At most ``limit`` rows, a seeded random sample kept in input order (all when under the cap)."""
    rows = list(rows)
    if limit is None or limit <= 0 or len(rows) <= limit:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def evaluate_rows(
    matcher: Matcher,
    rows: Sequence[GoldRow],
    *,
    limit: int | None = None,
    all_rows: bool = False,
    source: str = "",
    seed: int = 13,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
) -> EvalRun:
    """Match every (sampled) row once and keep its ranked candidates.

    Rows whose gold ids are not all in the matcher's registry are left out (they cannot be
    matched) unless ``all_rows``; "no match" rows are always kept.
    """
    registry = matcher.registry
    present = {inst.id for inst in matcher.retriever.institutions}
    usable = [r for r in rows if (all_rows and r.affiliation.strip()) or r.answerable_in(present)]
    left_out = len(rows) - len(usable)
    chosen = sample_rows(usable, limit, seed)
    if not chosen:
        name = getattr(registry, "name", "the registry")
        raise InputError(
            f"no rows to evaluate: {len(rows)} labelled rows, none with its institutions in registry {name}"
            if rows else "no labelled rows to evaluate (accept or mark \"none of these\" first, or pick a gold file)"
        )
    started = time.monotonic()
    results = list(matcher.match_many([r.affiliation for r in chosen], batch_size=batch_size, progress=progress))
    out_rows = []
    for gold, result in zip(chosen, results):
        names = []
        for inst_id in gold.ror_ids:
            inst = registry.get(inst_id) if hasattr(registry, "get") else None
            names.append(inst.name if inst is not None else "")
        out_rows.append(EvalRow(
            affiliation=gold.affiliation,
            expected=list(gold.ror_ids),
            candidates=[(c.id, c.name, float(c.score)) for c in result.candidates],
            expected_names=names,
            source=gold.source,
            several=[c.id for c in result.several],
        ))
    scorer = getattr(matcher, "scorer", None)
    return EvalRun(
        rows=out_rows,
        model_id=str(getattr(matcher, "model_id", "") or getattr(scorer, "model_id", "")),
        threshold=float(matcher.threshold),
        registry_name=str(getattr(registry, "name", "")),
        source=source,
        fallback_reason=str(getattr(scorer, "fallback_reason", "") or ""),
        left_out=left_out,
        sampled_from=len(usable),
        seconds=time.monotonic() - started,
        top_k=int(getattr(matcher, "top_k", 10)),
    )
