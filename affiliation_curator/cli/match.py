"""``match``: match a file of affiliation strings in batch and write JSON Lines.

    python -m affiliation_curator match INPUT [--registry R] [--model M] [--top-k K] --output OUT.jsonl

One output line per unique non-blank input string, in input order (blank lines are skipped and
repeated strings are matched once; stderr says how many). Lines are written as they are
matched, so an interrupted run resumes where it stopped: finished lines are kept, the rest is
appended (``--restart`` starts over). Beside OUT, ``OUT.run.json`` records the engine that wrote
it (registry, model, top-k, threshold): a run with another engine does not append to OUT.

With ``--ray [ADDRESS]`` the same engine matches a whole corpus (a folder or glob too) on a local
Ray or a cluster and OUT is a folder of shards: see affiliation_curator/curation/corpus/run.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from affiliation_curator.engine.assemble import engine_record
from affiliation_curator.errors import InputError

if TYPE_CHECKING:
    from affiliation_curator.engine.matcher import Matcher


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "match",
        help="match a file of affiliation strings to institutions (JSON Lines out)",
        description=(
            "Match affiliation strings to institutions of a registry. INPUT is .txt (one affiliation a "
            "line), .csv/.tsv (column 'affiliation' or --column), .jsonl (field 'affiliation' or "
            "--column), .json or .xlsx. OUT gets one JSON object a line, in input order: "
            '{"affiliation", "candidates": [{"id", "name", "score"}, ...], "match": id or null}. '
            "Blank lines are skipped and repeated strings are written once. An interrupted run "
            "resumes when started again with the same OUT and the same registry, model and --top-k "
            "(recorded in OUT.run.json)."
        ),
    )
    p.add_argument("input", metavar="INPUT", help="file of affiliation strings")
    add_engine_arguments(p)
    p.add_argument("--top-k", type=int, default=10, metavar="K", help="candidates per affiliation (default 10)")
    p.add_argument("--column", metavar="NAME", help="column (CSV/TSV/XLSX) or field (JSONL/JSON) holding the affiliations")
    p.add_argument("--output", "-o", required=True, metavar="OUT.jsonl", help="where to write the results")
    p.add_argument("--restart", action="store_true", help="overwrite OUT instead of resuming it")
    p.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    add_ray_arguments(p)
    p.set_defaults(handler=cmd_match)


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    """``match --ray``: the same engine over a whole corpus on Ray (affiliation_curator/corpus)."""
    g = p.add_argument_group("a whole corpus on Ray (INPUT may be a folder or a glob; OUT is a folder of shards)")
    g.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run on Ray: a local one without ADDRESS, else join the cluster at ADDRESS (HOST:PORT)")
    g.add_argument("--workers", type=int, metavar="N", help="engines in the pool (default: one per CPU, or per GPU)")
    g.add_argument("--format", choices=("parquet", "jsonl"), default="parquet", help="shard format (default parquet)")
    g.add_argument("--shard-size", type=int, default=2000, metavar="N",
                   help="unique strings per shard, the unit of resume and retry (default 2000)")


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", metavar="R",
                   help="an imported registry's name or a ROR dump / CSV path (default: the active registry)")
    p.add_argument("--model", metavar="M",
                   help="reranker: a hub id or a local model folder, or 'lexical-fallback' (default: the configured model, "
                        "falling back to the best local scorer when it cannot be loaded)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let --model run its own Python code (auto_map) although it is not trusted in the settings "
                        "(`model trust`); the default model and our own models need no flag")


def build_matcher(args: argparse.Namespace, top_k: int = 10, quiet: bool = False) -> Matcher:
    """The engine the arguments ask for (``engine.assemble``), saying which on stderr unless quiet;
    problems raise CuratorError."""
    from affiliation_curator.engine.assemble import build_engine, engine_lines

    matcher = build_engine(args.registry or None, args.model or None, top_k=top_k,
                           trust_remote_code=bool(getattr(args, "trust_remote_code", False)))
    if not quiet:
        for line in engine_lines(matcher):
            print(line, file=sys.stderr)
    return matcher


class Progress:
    """A progress bar on stderr (a rewritten line on a terminal, a line every 10% otherwise)."""

    def __init__(self, total: int, done: int = 0) -> None:
        self.total, self.start_done, self.start = total, done, time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_decile = -1

    def __call__(self, done: int) -> None:
        frac = done / self.total if self.total else 1.0
        rate = (done - self.start_done) / max(time.monotonic() - self.start, 1e-6)
        bar = "#" * int(frac * 30)
        line = f"[{bar:<30}] {done}/{self.total} {100 * frac:5.1f}%  {rate:.1f} aff/s"
        if self.tty:
            print("\r" + line, end="\n" if done >= self.total else "", file=sys.stderr, flush=True)
        elif int(frac * 10) > self.last_decile:
            self.last_decile = int(frac * 10)
            print(line, file=sys.stderr, flush=True)


def _finished_lines(out: Path, strings: list[str]) -> int:
    """How many leading results in ``out`` belong to ``strings``; cuts a half-written last line."""
    if not out.exists():
        return 0
    data = out.read_bytes()
    good = 0
    offset = 0
    for raw in data.split(b"\n"):
        end = offset + len(raw) + 1
        if end > len(data) + 1 or not raw.strip():
            break
        try:
            obj = json.loads(raw)
        except ValueError:
            break
        if good >= len(strings) or not isinstance(obj, dict) or obj.get("affiliation") != strings[good]:
            raise InputError(
                f"{out} holds results of another input (line {good + 1} differs); "
                "choose another --output or pass --restart to overwrite it"
            )
        if end > len(data):  # the last line lacks its newline: it was cut
            break
        good += 1
        offset = end
    if offset < len(data):
        with out.open("r+b") as fh:
            fh.truncate(offset)
    return good


def _check_same_engine(run_file: Path, engine: dict[str, Any], out: Path) -> None:
    """Refuse to append to results another engine wrote (an OUT without a run file is trusted)."""
    try:
        before = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(before, dict):
        return
    changed = [f"{key} {before.get(key)!r} → {value!r}" for key, value in engine.items() if before.get(key) != value]
    if changed:
        raise InputError(
            f"{out} was written by another engine ({'; '.join(changed)}); pass --restart to redo it "
            "with this one, or choose another --output"
        )


def cmd_match(args: argparse.Namespace) -> int:
    from affiliation_curator.curation.intake import read_affiliations

    if getattr(args, "ray", None) is not None:
        return cmd_match_ray(args)

    out = Path(args.output).expanduser()
    if out.is_dir():
        raise InputError(f"--output {out} is a folder; give a file name such as results.jsonl")
    if not out.parent.exists():
        raise InputError(f"--output: folder {out.parent} does not exist")
    intake = read_affiliations(Path(args.input).expanduser(), column=args.column)
    for message in intake.messages:
        print(message, file=sys.stderr)
    strings = intake.strings
    if not strings:
        raise InputError(f"{args.input}: no affiliation strings found")
    run_file = out.with_name(out.name + ".run.json")
    if args.restart:
        out.unlink(missing_ok=True)
        run_file.unlink(missing_ok=True)
    done = _finished_lines(out, strings)
    matcher = build_matcher(args, top_k=args.top_k)
    engine = engine_record(matcher, args.top_k)
    if done:
        _check_same_engine(run_file, engine, out)
    else:
        run_file.write_text(json.dumps(engine, indent=1) + "\n", encoding="utf-8")
    if done == len(strings):
        print(f"{out}: all {done} results already there; nothing to do (--restart to redo)", file=sys.stderr)
        return 0
    if done:
        print(f"resuming: {done} of {len(strings)} results already in {out}", file=sys.stderr)
    todo = strings[done:]
    progress = Progress(len(strings), done)
    matched, noticed = 0, 0
    with out.open("a", encoding="utf-8") as fh:
        for n, result in enumerate(matcher.match_many(todo, batch_size=max(1, args.batch_size)), done + 1):
            fh.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            matched += result.match is not None
            if len(matcher.notices) > noticed:  # the model failed while scoring: say so once, record the stand-in
                for notice in matcher.notices[noticed:]:
                    print(f"\nnote: {notice}", file=sys.stderr)
                noticed = len(matcher.notices)
                run_file.write_text(json.dumps({**engine_record(matcher, args.top_k), "notices": matcher.notices}, indent=1)
                                    + "\n", encoding="utf-8")
            if n % max(1, args.batch_size) == 0 or n == len(strings):
                fh.flush()
                os.fsync(fh.fileno())
                progress(n)
    print(f"wrote {len(todo)} results to {out} ({matched} matched at threshold {matcher.threshold:.3f}; "
          f"scorer {matcher.model_id})", file=sys.stderr)
    return 0


def cmd_match_ray(args: argparse.Namespace) -> int:
    """``match --ray``: see affiliation_curator/curation/corpus/run.py."""
    from affiliation_curator.curation.corpus import CorpusOptions, run_corpus

    if args.top_k < 1:
        raise InputError("--top-k must be at least 1")
    run_corpus(CorpusOptions(
        input=args.input, output=Path(args.output), registry=args.registry, model=args.model, top_k=args.top_k,
        column=args.column, fmt=args.format, address=args.ray or None, workers=args.workers,
        shard_size=args.shard_size, batch_size=max(1, args.batch_size), restart=args.restart,
    ))
    return 0
