"""``decisions`` commands: import earlier curation, list batches and decisions, undo."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from affiliation_curator.cli import command_group
from affiliation_curator.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = command_group(
        subparsers,
        "decisions",
        help="import known answers, list batches and decisions, undo",
        description="Curation decisions in the store: import a team's earlier curation, list, undo.",
    )

    p = sub.add_parser(
        "import",
        help="record known affiliation -> ROR answers (gold JSON Lines or CSV affiliation,ror_id) as a batch",
        description=(
            "Import labelled mappings as decisions: gold JSON Lines (affiliation, ror_ids; rows with several ids "
            "accept the first) or a CSV with the columns affiliation,ror_id (an empty ror_id means none of these). "
            "The strings become a new batch, each is ranked so its candidates are stored as a curator would see "
            "them, and each known answer is recorded as an accept (even of an institution not among the "
            "candidates) or as 'none of these'. The import is one undo step. Progress goes to stderr."
        ),
    )
    p.add_argument("file", metavar="FILE", help="gold .jsonl or .csv with affiliation,ror_id")
    p.add_argument("--batch", required=True, metavar="NAME", help="name of the new batch (a taken name gets ' (2)')")
    p.add_argument("--curator", required=True, metavar="NAME",
                   help="who the decisions are recorded for: they stay this curator's own (nobody else's change)")
    p.add_argument("--add-to-batch", action="store_true",
                   help="record into the existing batch NAME (strings matched, new ones added): another curator's "
                        "answers on the same affiliations, for the agreement figures (team agreement)")
    p.add_argument("--registry", metavar="NAME", help="registry name or file (default: the active one)")
    p.add_argument("--model", metavar="ID", help="reranker model id or folder (default: the configured one)")
    p.add_argument("--affiliation-column", metavar="NAME",
                   help="CSV column holding the affiliations (default: affiliation, or the other of two columns)")
    p.add_argument("--id-column", metavar="NAME",
                   help="CSV column holding the ROR ids (default: ror_id, or a column of ROR ids such as an "
                        "OpenRefine identifiers column)")
    p.add_argument("--no-rank", action="store_true",
                   help="record the answers without ranking (no candidates stored; no hard negatives later)")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("batches", help="list batches with their counts", description="List batches with their counts.")
    p.set_defaults(handler=cmd_batches)

    p = sub.add_parser("list", help="list the decisions of a batch (oldest first)",
                       description="List the current and past decisions of a batch, oldest first (undone ones with --all).")
    p.add_argument("--batch", required=True, metavar="NAME", help="batch name")
    p.add_argument("--curator", metavar="NAME", help="only this curator's decisions")
    p.add_argument("--all", action="store_true", help="include undone decisions")
    p.add_argument("--limit", type=int, default=50, help="show the last N (default 50; 0: all)")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("undo", help="undo the last decision (or bulk accept, or import) of a batch",
                       description="Take back the last undo step of a batch: one decision, a whole bulk accept or import.")
    p.add_argument("--batch", required=True, metavar="NAME", help="batch name")
    p.add_argument("--curator", metavar="NAME", help="the last step of this curator")
    p.set_defaults(handler=cmd_undo)


def _batch_id(store, name: str) -> int:  # noqa: ANN001
    info = store.batch_by_name(name)
    if info is None:
        names = ", ".join(repr(b.name) for b in store.batches()) or "(none yet)"
        raise InputError(f"no batch {name!r}; batches: {names}")
    return info.id


class _Progress:
    """Progress lines on stderr: rewritten in place on a terminal, every 10 % otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = -1
        self.started = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        step = int(10 * done / total) if total else 10
        if self.tty:
            print(f"\r{stage}: {done:,}/{total:,}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif step != self.last or done == total:
            print(f"{stage}: {done:,}/{total:,} ({time.monotonic() - self.started:.0f} s)", file=sys.stderr, flush=True)
        self.last = step


def cmd_import(args: argparse.Namespace) -> int:
    from affiliation_curator.curation.decisions_import import import_decisions, read_known_answers
    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.curation.store import Store

    path = Path(args.file).expanduser()
    answers = read_known_answers(path, args.affiliation_column, args.id_column)
    print(f"read {len(answers):,} rows from {path.name}", file=sys.stderr)
    registry = RegistryCatalog().resolve(args.registry)
    matcher = None
    model_id = ""
    if not args.no_rank:
        from affiliation_curator.engine.assemble import build_engine

        matcher = build_engine(registry, args.model, exact=False)  # a model that cannot load: a stand-in says so
        if getattr(matcher.scorer, "fallback_reason", ""):
            print(f"note: using {matcher.model_id} ({matcher.scorer.fallback_reason})", file=sys.stderr)
        model_id = matcher.model_id
    report = import_decisions(
        Store(), answers, args.batch, args.curator, matcher=matcher, registry=registry,
        model_id=model_id, source=path.name, progress=_Progress(), add_to_batch=args.add_to_batch,
    )
    for line in report.summary():
        print(line)
    return 0


def cmd_batches(args: argparse.Namespace) -> int:
    from affiliation_curator.curation.store import Store

    batches = Store().batches()
    if not batches:
        print("no batches yet")
        return 0
    print(f"{'batch':<32} {'items':>7} {'ranked':>7} {'accept':>7} {'none':>6} {'skip':>6}  created")
    for b in batches:
        print(
            f"{b.name[:32]:<32} {b.total:>7,} {b.ranked:>7,} {b.by_action['accept']:>7,} {b.by_action['none']:>6,} "
            f"{b.by_action['skip']:>6,}  {b.created_at:%Y-%m-%d %H:%M}"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from affiliation_curator.curation.store import Store

    store = Store()
    rows = store.decisions(_batch_id(store, args.batch), curator=args.curator, include_undone=args.all)
    if args.limit and args.limit > 0:
        rows = rows[-args.limit :]
    if not rows:
        print("no decisions")
    for r in rows:
        what = r["action"] + (f" {r['institution_id']} {r['institution_name'] or ''}".rstrip() if r["institution_id"] else "")
        what += "".join(f" + {a['id']} {a.get('name') or ''}".rstrip() for a in r.get("also") or [])
        undone = "  (undone)" if r["undone_at"] else ""
        print(f"{r['created_at']:%Y-%m-%d %H:%M:%S}  {r['curator']:<16} {what}  <- {r['affiliation'][:80]}{undone}")
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    from affiliation_curator.curation.store import Store

    store = Store()
    result = store.undo(_batch_id(store, args.batch), curator=args.curator)
    if result is None:
        print("nothing to undo")
        return 0
    print(f"undone: {result.description} ({result.count:,} items, by {result.curator})")
    return 0
