"""``evaluate``: metrics of the matching engine on a labelled gold file.

    python -m affiliation_curator evaluate GOLD.jsonl [--registry R] [--model M]

GOLD.jsonl has the shape of the shared gold sets: ``{"affiliation", "ror_ids": [...],
"all_ids_in_registry": bool}``; empty ``ror_ids`` means "no match". Rows whose gold ids are
not all in the registry are left out (they cannot be matched), unless --all-rows.
"""

from __future__ import annotations

import argparse
import json

from affiliation_curator.cli.match import Progress, add_engine_arguments, build_matcher
from affiliation_curator.cli.curated import add_batch_argument, evaluate_batches
from affiliation_curator.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="measure matching quality on a labelled gold file",
        description=(
            "Match every string of a gold JSON Lines file and print retrieval recall@k, accuracy@1, MRR, "
            "no-match precision/recall/F1, auto-accept precision and coverage at the threshold, and the "
            "same split by string traits (non-ASCII, multi-institution, short/acronym). Scored rows: those "
            "whose gold ids are all in the registry, plus the 'no match' rows."
        ),
    )
    p.add_argument("gold", metavar="GOLD.jsonl", nargs="?", help="gold file: affiliation, ror_ids (empty: no match)")
    add_batch_argument(p, "instead of a gold file: a batch (name or number) whose curators' decisions are the "
                          "labelled rows (repeatable; default registry: the batch's)")
    add_engine_arguments(p)
    p.add_argument("--limit", type=int, help="evaluate only the first N scored rows")
    p.add_argument("--test-split", action="store_true",
                   help="only the held-out test side of the project's gold split (affiliation_curator.curation.gold.split)")
    p.add_argument("--all-rows", action="store_true", help="also score rows whose gold ids are missing from the registry")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from affiliation_curator.learning.evaluation import evaluate
    from affiliation_curator.curation.gold import read_gold, split
    from affiliation_curator.learning.trained_on import model_card, overlap_warning

    if args.batch:  # the curators' decisions of a batch instead of a gold file
        return evaluate_batches(args)
    if not args.gold:
        raise InputError("give a gold file (GOLD.jsonl) or --batch NAME")
    rows = read_gold(args.gold)
    if args.test_split:
        rows = split(rows)[1]
    matcher = build_matcher(args, top_k=20)
    registry = matcher.registry
    present = {inst.id for inst in registry}
    if not args.all_rows:
        # The file's flag speaks of the shared registry; check against the registry actually used.
        rows = [r for r in rows if r.answerable_in(present)]
    if args.limit:
        rows = rows[: max(0, args.limit)]
    if not rows:
        raise InputError(f"{args.gold}: no rows to score (none has all its gold ids in registry {registry.name})")
    progress = Progress(len(rows))
    results = list(matcher.match_many([r.affiliation for r in rows], progress=lambda d, t: progress(d)))
    report = evaluate(
        [r.ror_ids for r in rows],
        [[c.id for c in res.candidates] for res in results],
        [res.match for res in results],
        matcher.threshold,
        [r.affiliation for r in rows],
        by_id={inst.id: inst for inst in registry},
        suggested=[[c.id for c in res.several] or [c.id for c in res.candidates[:1]] for res in results],
    )
    warning = overlap_warning(model_card(matcher), rows, gold_file=str(args.gold), test_side_only=bool(args.test_split))
    if args.json:
        print(json.dumps({**report.to_dict(), **({"warning": warning} if warning else {})}, indent=1))
    else:
        if warning:
            print(f"warning: {warning}")
        print(f"gold {args.gold}; registry {registry.name}; scorer {matcher.model_id}")
        print(matcher.combiner_note())
        print("scored rows: gold ids all in the registry, plus 'no match' rows")
        print("recall@k over the 20 candidates as ranked (reranked first); recall@20 is the first-stage "
              "retrieval recall")
        print(report.to_text())
    return 0
