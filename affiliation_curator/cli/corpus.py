"""``corpus review``: bring the output of a corpus run (``match --ray``) into the app as a review batch.

    python -m affiliation_curator corpus review OUT --least-confident 500 [--batch NAME]
    python -m affiliation_curator corpus review OUT --sample 200 [--seed 7]

See affiliation_curator/curation/corpus/review.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affiliation_curator.cli import command_group


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = command_group(subparsers, "corpus", help="bring a corpus run's results (match --ray) to review",
                        description="Work with the output folder of a corpus run (match INPUT --output OUT --ray).")
    p = sub.add_parser(
        "review", help="make a review batch of the least confident N strings, or of a random sample",
        description="Make a review batch in the app from a corpus run's shards: the N least confident strings "
                    "(top score nearest the threshold or the runner-up) or a random sample of N for quality "
                    "control. The batch is ranked with the run's engine unless --no-rank.",
    )
    p.add_argument("output", metavar="OUT", help="the output folder of match --ray")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--least-confident", type=int, metavar="N", help="the N least confident strings")
    how.add_argument("--sample", type=int, metavar="N", help="a random sample of N strings")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (the same seed picks the same strings)")
    p.add_argument("--batch", metavar="NAME", default="", help="name of the new batch (default: OUT and how it was picked)")
    p.add_argument("--registry", metavar="R", help="registry to rank with (default: the one the run used)")
    p.add_argument("--model", metavar="M", help="model to rank with (default: the one the run used)")
    p.add_argument("--no-rank", action="store_true", help="only make the batch; the app ranks it when opened")
    p.set_defaults(handler=cmd_review)


def cmd_review(args: argparse.Namespace) -> int:
    from affiliation_curator.engine.assemble import build_engine
    from affiliation_curator.curation.corpus.review import review_batch, run_record

    out = Path(args.output).expanduser()
    record = run_record(out)
    how, n = ("least-confident", args.least_confident) if args.least_confident is not None else ("sample", args.sample)
    matcher = None
    if not args.no_rank:
        used = record.get("engine_args") or {}
        matcher = build_engine(args.registry or used.get("registry") or record["engine"].get("registry"),
                               args.model or used.get("model") or record["engine"].get("model"),
                               top_k=int(record["engine"].get("top_k") or 10))
    made = review_batch(out, how, n, seed=args.seed, name=args.batch, matcher=matcher)
    ranked = f"; {made.ranked} ranked" if matcher is not None else "; the app ranks it when it is opened"
    print(f"batch {made.name!r} (#{made.batch_id}): {made.picked} strings ({how.replace('-', ' ')}){ranked}",
          file=sys.stderr)
    return 0
