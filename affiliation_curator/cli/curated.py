"""The curators' decisions as labelled data for the CLI: ``evaluate --batch`` and ``model train --batch``.

    python -m affiliation_curator evaluate --batch March [--batch April] [--model M]
    python -m affiliation_curator model train --batch March [--queries 300] ...

``evaluate --batch``: the current decisions of the batches are the gold rows (accept -> that
institution, "none of these" -> no match; ``curated_eval.gold_from_store``), matched once by
the engine (``curated_eval.evaluate_rows``). ``model train --batch``: the batches' labelled
pairs (``finetune.curated_training_data``, the export's pairs: accepted = 1, rejected, "none
of these" and 3 hard negatives per accept = 0) are written to a temporary pairs file that
training reads like ``--pairs``. Batches are named by name or number, as in ``export``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from affiliation_curator.errors import InputError

BATCH_HELP = "a batch's name or number: its curators' decisions are the labelled rows (repeatable)"


def add_batch_argument(p: argparse.ArgumentParser, help_text: str = BATCH_HELP) -> None:
    p.add_argument("--batch", action="append", metavar="NAME", default=[], help=help_text)


def _batches(store: Any, wanted: list[str]) -> list[Any]:
    from affiliation_curator.curation.export import resolve_batches

    return resolve_batches(store, [w.strip() for w in wanted if w and w.strip()] or [""])


def evaluate_batches(args: argparse.Namespace) -> int:
    """``evaluate --batch NAME ...``: metrics of the engine on the batches' current decisions."""
    from affiliation_curator.cli.match import build_matcher
    from affiliation_curator.learning.curated_eval import evaluate_rows, gold_from_store
    from affiliation_curator.curation.gold import split
    from affiliation_curator.curation.store import Store
    from affiliation_curator.learning.trained_on import model_card, overlap_warning

    if getattr(args, "gold", None):
        raise InputError("give a gold file or --batch, not both")
    store = Store()
    infos = _batches(store, args.batch)
    rows = gold_from_store(store, [b.id for b in infos])
    names = ", ".join(b.name for b in infos)
    if not rows:
        raise InputError(f"batch {names} has no decisions to evaluate on yet (accept or mark \"none of these\" first)")
    if getattr(args, "test_split", False):
        rows = split(rows)[1]
    if not args.registry:  # the registry the batch was matched against, when it is still there
        args.registry = next((b.registry_name for b in infos if b.registry_name), None)
    matcher = build_matcher(args, top_k=20)
    run = evaluate_rows(matcher, rows, limit=args.limit or None, all_rows=args.all_rows, source=names)
    report = run.report()
    warning = overlap_warning(model_card(matcher), rows, batches=[b.name for b in infos])
    if args.json:
        print(json.dumps({"batches": [b.name for b in infos], "left_out": run.left_out, **report.to_dict(),
                          **({"warning": warning} if warning else {})}, indent=1))
        return 0
    if warning:
        print(f"warning: {warning}")
    print(f"batch {names}; registry {run.registry_name}; scorer {run.model_id}")
    print("rows: the curators' current decisions (accept -> that institution, none of these -> no match); "
          f"{run.left_out} left out (institution not in the registry)")
    print("note: the curators chose among candidates of the model that ranked the batch, which favours that model")
    print(report.to_text())
    return 0


def batch_labelled_rows(args: argparse.Namespace, registry: Any) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """``(labelled rows, description)`` of --batch's decisions for training, in memory; None without --batch."""
    if not getattr(args, "batch", None):
        return None
    if args.pairs:
        raise InputError("give --pairs or --batch, not both")
    from affiliation_curator.learning.finetune import curated_training_data
    from affiliation_curator.curation.store import Store

    store = Store()
    names = [b.name for b in _batches(store, args.batch)]
    data = curated_training_data(store, registry, batches=names, validation_share=0.0)
    counts = {k: v for k, v in data.counts().items() if k.startswith("train")}
    print(f"batches {', '.join(names)}: {counts['train pairs']} labelled pairs "
          f"({counts['train positives']} right) from {counts['train affiliations']} affiliations", file=sys.stderr)
    for warning in data.warnings:
        print(f"note: {warning}", file=sys.stderr)
    return data.train, {**data.sources, **counts}
