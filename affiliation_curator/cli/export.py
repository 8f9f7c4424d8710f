"""``export`` commands: labelled pairs for training, the affiliation -> ROR id mapping."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path

from affiliation_curator.cli import command_group
from affiliation_curator.curation.formats import suffixes_text, writer_for
from affiliation_curator.errors import InputError

FORMATS_HELP = f"the format follows the ending: {suffixes_text()}"


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = command_group(
        subparsers,
        "export",
        help="export labelled pairs (training data) or the affiliation -> ROR mapping",
        description="Export what curators decided: labelled pairs in the reranker's training format, "
        "or the affiliation -> ROR id mapping. A dataset card (<name>.card.md) is written beside each export.",
    )

    p = sub.add_parser(
        "pairs",
        help="labelled (query, document, label) pairs for CrossEncoder training",
        description=(
            "Write labelled pairs: columns query (the affiliation), document (the institution text exactly as the "
            "reranker saw it) and label (1 accepted, 0 rejected; 'none of these' makes every shown candidate 0). "
            "The files load with datasets.load_dataset and train with CrossEncoderTrainer + "
            "BinaryCrossEntropyLoss unchanged. CSV cells starting with = + - @ are prefixed with a single quote."
        ),
    )
    p.add_argument("--output", "-o", required=True, metavar="OUT", help=f"output file; {FORMATS_HELP}")
    _selection(p)
    p.add_argument("--hard-negatives", metavar="K", default="3",
                   help="per accepted affiliation, up to K shown but not accepted candidates as label 0 "
                   "(a number or 'all'; default 3)")
    p.add_argument("--easy-negatives", metavar="K", type=int, default=0,
                   help="per accepted affiliation, K random registry institutions as label 0 (default 0)")
    p.add_argument("--registry", metavar="NAME",
                   help="registry for easy negatives and for institutions chosen outside the candidates "
                   "(default: the active one, loaded only when needed)")
    p.add_argument("--split", metavar="SHARE", type=float, default=0.0,
                   help="share of affiliation strings held out for validation (e.g. 0.1): writes OUT.train.EXT and "
                   "OUT.validation.EXT; one string is never on both sides")
    p.add_argument("--no-dedupe", action="store_true", help="keep repeated (query, document) pairs")
    p.add_argument("--seed", type=int, default=13, help="seed for easy negatives (default 13)")
    p.set_defaults(handler=cmd_pairs)

    p = sub.add_parser(
        "mapping",
        help="the affiliation -> ROR id mapping with decision, score, model, registry version, curator, time",
        description="Write one row per decided affiliation: affiliation, ror_id, institution_name, decision "
        "(accept / none), score, count, model_id, registry_name, registry_version, curator, decided_at, batch.",
    )
    p.add_argument("--output", "-o", required=True, metavar="OUT", help=f"output file; {FORMATS_HELP}")
    _selection(p)
    p.add_argument("--all", action="store_true", help="also list skipped and undecided affiliations")
    p.set_defaults(handler=cmd_mapping)


def _selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", action="append", metavar="NAME", help="only this batch (repeatable; default: all)")
    p.add_argument("--curator", action="append", metavar="NAME", help="only this curator's decisions (repeatable)")
    p.add_argument("--since", metavar="DATE", help="only decisions made on or after DATE (YYYY-MM-DD or ISO time)")
    p.add_argument("--until", metavar="DATE", help="only decisions made on or before DATE (a date: the whole day)")


def _when(value: str | None, flag: str) -> date | datetime | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{flag}: {value!r} is not a date (YYYY-MM-DD) or an ISO time") from None


def _options(args: argparse.Namespace):  # noqa: ANN202
    from affiliation_curator.curation.export import ExportOptions

    hard = getattr(args, "hard_negatives", "3")
    if isinstance(hard, str):
        if hard.strip().lower() == "all":
            hard = None
        else:
            try:
                hard = int(hard)
            except ValueError:
                raise InputError(f"--hard-negatives: {hard!r} is neither a number nor 'all'") from None
    return ExportOptions(
        batches=args.batch or None,
        curators=args.curator or None,
        since=_when(args.since, "--since"),
        until=_when(args.until, "--until"),
        hard_negatives=hard,
        easy_negatives=getattr(args, "easy_negatives", 0),
        dedupe=not getattr(args, "no_dedupe", False),
        validation_share=getattr(args, "split", 0.0) or 0.0,
        seed=getattr(args, "seed", 13),
        include_undecided=getattr(args, "all", False),
    )


def _output(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.suffix:
        raise InputError(f"--output {value!r}: give a file name ending in {suffixes_text()}")
    writer_for(path)
    if path.is_dir():
        raise InputError(f"--output {value!r} is a folder; give a file name")
    return path


def cmd_pairs(args: argparse.Namespace) -> int:
    from affiliation_curator.curation.export import export_pairs
    from affiliation_curator.curation.store import Store

    output = _output(args.output)
    options = _options(args)
    registry = None
    if options.easy_negatives or args.registry:
        from affiliation_curator.registry import RegistryCatalog

        registry = RegistryCatalog().resolve(args.registry)
    result = export_pairs(Store(), output, options, registry=registry)
    s = result.stats
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"Wrote {s['pairs']:,} pairs ({s['positives']:,} positive, {s['negatives']:,} negative; "
        f"{s['affiliations']:,} affiliations)"
    )
    for path in result.written:
        print(f"  {path}")
    return 0


def cmd_mapping(args: argparse.Namespace) -> int:
    from affiliation_curator.curation.export import export_mapping
    from affiliation_curator.curation.store import Store

    output = _output(args.output)
    result = export_mapping(Store(), output, _options(args))
    by = ", ".join(f"{k} {v:,}" for k, v in sorted(result.stats["by_decision"].items()))
    print(f"Wrote {result.stats['rows']:,} affiliations ({by})")
    for path in result.written:
        print(f"  {path}")
    return 0
