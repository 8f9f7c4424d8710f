"""Matching a whole corpus on Ray: ``match INPUT --output OUT --ray [ADDRESS]``.

The same engine as the single-process ``match`` (``engine.assemble.build_engine``), run by
Ray Data:

1. read: the corpus files (inputs.py) become rows of cleaned strings;
2. de-duplicate across the whole corpus first (``groupby(affiliation).count()``, kept in the
   object store): a corpus repeats the same affiliation thousands of times, and a string is
   matched once however often it occurs;
3. split the unique strings into shards by a stable hash (shards.py) and leave out the shards
   an earlier run already wrote;
4. ``map_batches(ShardMatcher)`` over the shards: an actor pool, one engine per worker (registry
   and model loaded once per worker, a GPU each where the cluster has them); each shard is
   matched in batches and written atomically under its final name by the worker;
   (the shards are packed, one row each, and kept in the object store before the pool starts,
   so the shuffle never waits for CPUs the engines hold);
5. the driver follows the finished shards: progress on stderr and a summary at the end.

``OUT`` is a folder of shards; ``OUT.run.json`` beside it records the engine, the input and
the shard layout. A run with the same engine and input resumes (whole shards are skipped); any
other refuses to mix its results in (``--restart`` starts over).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from affiliation_curator import config
from affiliation_curator.curation.corpus import inputs, shards
from affiliation_curator.curation.corpus.worker import (EngineSpec, ShardMatcher, assign_shards, clean_column, pack_shard,
                                               parse_files)
from affiliation_curator.engine.reranker import LEXICAL_MODEL_ID
from affiliation_curator.errors import CuratorError, InputError

LOCAL_OBJECT_STORE_BYTES = 1024**3  # a local Ray's object store; past it Ray spills to disk
SHUFFLE_BYTES = 64 * 1024**2  # input bytes per shuffle partition (Ray's default of 200 partitions costs
#                               tens of seconds of task start-up on a small corpus on two cores)


class CorpusError(CuratorError):
    """A corpus run could not go on (cluster unreachable, input vanished, a worker failed)."""


@dataclass
class CorpusOptions:
    input: str
    output: Path
    registry: str | None = None
    model: str | None = None
    top_k: int = 10
    column: str | None = None
    fmt: str = "parquet"
    address: str | None = None  # None: a local Ray (or the one this process already runs)
    workers: int | None = None  # actors in the pool; default: one per CPU (or GPU) of the cluster
    shard_size: int = 2000  # unique strings per shard (a shard is the unit of resume and retry)
    batch_size: int = 32
    restart: bool = False


@dataclass
class CorpusSummary:
    read: int = 0  # non-blank strings read (every occurrence)
    unique: int = 0
    matched: int = 0
    no_match: int = 0
    seconds: float = 0.0
    shards: int = 0
    shards_skipped: int = 0  # already written by an earlier run
    dropped: dict[str, int] = field(default_factory=dict)  # blank, binary, unreadable lines
    cut: int = 0  # strings cut to config.MAX_AFFILIATION_CHARS
    dedup_seconds: float = 0.0  # reading and de-duplicating the corpus
    match_seconds: float = 0.0  # sharding and matching (engines' start-up included)
    worker_peak_mb: float = 0.0  # the largest peak resident memory of a worker (engine included)

    @property
    def rate(self) -> float:
        return self.unique / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        out = [f"strings read {self.read:,}; unique {self.unique:,}; matched {self.matched:,}; "
               f"no match {self.no_match:,}; {self.seconds:.1f} s; {self.rate:.1f} unique strings/s "
               f"({self.read / self.seconds if self.seconds > 0 else 0.0:.1f} strings read/s)"]
        dropped = [f"{n:,} {what}" for what, n in self.dropped.items() if n]
        if dropped:
            out.append("lines dropped: " + "; ".join(dropped))
        if self.cut:
            out.append(f"strings cut to {config.MAX_AFFILIATION_CHARS:,} characters: {self.cut:,}")
        if self.shards_skipped:
            out.append(f"{self.shards_skipped} of {self.shards} shards were already written and were kept")
        return out


class Progress:
    """Strings done / total, rate and time left on stderr (rewritten on a terminal, else ~every 10%)."""

    def __init__(self, total: int, done: int, stream: TextIO) -> None:
        self.total, self.done, self.start_done = total, done, done
        self.start, self.stream, self.last = time.monotonic(), stream, -1
        self.tty = stream.isatty()

    def add(self, n: int) -> None:
        self.done += n
        frac = self.done / self.total if self.total else 1.0
        rate = (self.done - self.start_done) / max(time.monotonic() - self.start, 1e-6)
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = "?" if math.isinf(left) else f"{int(left) // 60}m{int(left) % 60:02d}s"
        line = (f"[{'#' * int(frac * 30):<30}] {self.done:,}/{self.total:,} strings {100 * frac:5.1f}%  "
                f"{rate:.1f} strings/s  about {eta} left")
        if self.tty:
            print("\r" + line, end="\n" if self.done >= self.total else "", file=self.stream, flush=True)
        elif int(frac * 10) > self.last:
            self.last = int(frac * 10)
            print(line, file=self.stream, flush=True)


# ------------------------------------------------------------------------------ Ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail within seconds, with one line, when a cluster address does not answer (Ray would wait long)."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise CorpusError(f"--ray {address}: expected HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379), "
                          "ray://HOST:10001, or nothing for a local Ray")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise CorpusError(f"cannot reach the Ray cluster at {address} ({err.strerror or err}); start one with "
                          "'ray start --head' or check the address. Nothing was written.") from None


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Join the cluster at ``address``, or start a local Ray (bound to 127.0.0.1); reuse one already started."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        yield ray
        return
    if address:
        check_reachable(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level="warning")
        else:
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                     logging_level="warning", object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    except Exception as err:  # noqa: BLE001 - ray.init raises ConnectionError, RuntimeError, ValueError...
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise CorpusError(f"cannot start or join {where}: {_first_line(err)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet_data() -> None:
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    # Sort-based shuffles run as plain tasks; the default hash shuffle first starts aggregator actors,
    # which cost more than the whole de-duplication of a small corpus on a small machine.
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    if hasattr(ctx, "print_on_execution_start"):
        ctx.print_on_execution_start = False
    import logging

    # A failed task is reported once, as one line (explain_failure), not as Ray Data's stack traces.
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def explain_failure(err: BaseException, output: Path) -> CuratorError:
    """One line for a failure inside Ray: the user's own problem (CuratorError, a vanished file) if it is one."""
    kept = f"; the shards already in {output} are whole and are kept: run the command again to resume"
    chain = _chain(err)
    for e in chain:  # the worker's own error, not Ray's wrapper of it (which subclasses it, with a traceback)
        if isinstance(e, CuratorError) and getattr(e, "cause", None) is None:
            return CorpusError(str(e) + kept)
    for e in chain:  # a worker's CuratorError that Ray only passes on as text (an engine that failed to start)
        m = _CURATOR_ERROR_IN_TEXT.search(str(e))
        if m:
            return CorpusError(m.group(1).strip() + kept)
    missing = [e for e in chain if isinstance(e, FileNotFoundError)]
    if missing:
        named = [m.group(1) for e in chain for m in [_FILE_IN_MESSAGE.search(str(e))] if m]  # pyarrow's wording
        named += [e.filename for e in missing if isinstance(e.filename, str) and "\n" not in e.filename]
        name = named[0] if named else _first_line(missing[-1])
        return CorpusError(f"an input file disappeared while the run was reading it ({name}){kept}")
    return CorpusError(f"the Ray run failed: {_first_line(err)}{kept}")


_FILE_IN_MESSAGE = re.compile(r"file '([^']+)'")
_CURATOR_ERROR_IN_TEXT = re.compile(r"affiliation_curator\.[\w.]*errors\.\w+: ([^\n]+)")


def _chain(err: BaseException) -> list[BaseException]:
    """The error and every error behind it (Ray's ``cause``, ``__cause__``, ``__context__``), outermost first."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [err]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is seen for seen in out):
            continue
        out.append(e)
        todo.extend([getattr(e, "cause", None), e.__cause__, e.__context__])
    return out


# ------------------------------------------------------------------------------ the run


def read_corpus(ray: Any, files: list[Path], column: str | None) -> Any:
    """One Ray Dataset of ``{affiliation, problem}`` rows over every file (lazy: read when executed)."""
    text = [str(p) for p in files if p.suffix.lower() in inputs.TEXT_SUFFIXES]
    parquet = [p for p in files if p.suffix.lower() == ".parquet"]
    parts = []
    if text:
        raw = ray.data.read_binary_files(text, include_paths=True)
        parts.append(raw.map_batches(parse_files, fn_kwargs={"column": column}, batch_size=1, batch_format="numpy"))
    if parquet:
        name = inputs.parquet_column(parquet, column)
        table = ray.data.read_parquet([str(p) for p in parquet], columns=[name])
        parts.append(table.map_batches(clean_column, fn_kwargs={"column": name}, batch_format="numpy"))
    return parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])


def shuffle_partitions(files: list[Path]) -> int:
    """Partitions of the de-duplication shuffle: one per SHUFFLE_BYTES of input, 1 to 200."""
    total = sum(p.stat().st_size for p in files)
    return max(1, min(200, math.ceil(total / SHUFFLE_BYTES)))


def _input_record(files: list[Path], column: str | None) -> dict[str, Any]:
    listed = []
    for p in files:
        st = p.stat()
        listed.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    return {"files": listed, "column": column}


def _read_record(run_file: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_record(run_file: Path, record: dict[str, Any]) -> None:
    tmp = run_file.with_name(run_file.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, run_file)


def _check_resume(before: dict[str, Any], now: dict[str, Any], out: Path) -> None:
    changed = [key for key in ("engine", "input", "format") if before.get(key) != now.get(key)]
    if changed:
        raise InputError(f"{out} holds results of another run (its {', '.join(changed)} differ); pass --restart "
                         "to redo it, or choose another --output")


def _clear(out: Path, run_file: Path) -> None:
    for path in shards.shard_files(out) + (list(out.glob(".part-*.tmp")) if out.is_dir() else []):
        path.unlink(missing_ok=True)
    run_file.unlink(missing_ok=True)


def _prepare_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--output {out} is a file; a corpus run writes a folder of shards (give a folder name)")
    if not out.parent.exists():
        raise InputError(f"--output: folder {out.parent} does not exist")
    out.mkdir(exist_ok=True)


def _dedup_stats(dedup: Any, partitions: int) -> tuple[int, int, dict[str, int], int]:
    """(strings read, unique strings, dropped lines by reason, strings cut) from the de-duplicated rows."""
    from ray.data.aggregate import Count, Sum

    rows = dedup.groupby("problem", num_partitions=partitions).aggregate(Count(), Sum("count()")).take_all()
    by = {r["problem"]: (int(r["count()"]), int(r["sum(count())"])) for r in rows}
    kept = [by.get(p, (0, 0)) for p in ("", "cut")]
    dropped = {p: by.get(p, (0, 0))[1] for p in ("blank", "binary", "unreadable")}
    return sum(n for _, n in kept), sum(u for u, _ in kept), dropped, by.get("cut", (0, 0))[1]


def _pool(ray: Any, workers: int | None, model: str) -> tuple[int, float]:
    """(actors, GPUs per actor): one actor per GPU where the cluster has GPUs (and a model to put on them),
    else one per CPU; ``workers`` overrides the count."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    use_gpu = gpus > 0 and model != LEXICAL_MODEL_ID
    default = gpus if use_gpu else max(1, int(resources.get("CPU", 1)))
    return max(1, workers or default), (1.0 if use_gpu else 0.0)


def run_corpus(opts: CorpusOptions, err: TextIO | None = None) -> CorpusSummary:
    """Match the corpus of ``opts`` on Ray (see the module docstring); returns the summary it printed
    (on ``err``, default stderr)."""
    err = err or sys.stderr
    from affiliation_curator.engine.assemble import build_engine, engine_lines, engine_record

    started = time.monotonic()
    if opts.fmt not in shards.FORMATS:
        raise InputError(f"--format {opts.fmt!r}: use one of {', '.join(shards.FORMATS)}")
    if opts.shard_size < 1 or opts.batch_size < 1:
        raise InputError("--shard-size and --batch-size must be at least 1")
    files = inputs.corpus_files(opts.input)
    if opts.address:
        check_reachable(opts.address)  # before anything is loaded or written
    out = Path(opts.output).expanduser()
    _prepare_output(out)
    run_file = out.with_name(out.name + ".run.json")
    if opts.restart:
        _clear(out, run_file)
    matcher = build_engine(opts.registry, opts.model, top_k=opts.top_k)
    for line in engine_lines(matcher):
        print(line, file=err)
    engine = engine_record(matcher, opts.top_k)
    del matcher
    record = {"engine": engine, "input": _input_record(files, opts.column), "format": opts.fmt,
              "engine_args": {"registry": opts.registry, "model": opts.model}}
    before = _read_record(run_file)
    if before is not None and shards.shard_files(out):
        _check_resume(before, record, out)
    elif shards.shard_files(out):
        raise InputError(f"{out} holds shards without a run record ({run_file.name}); pass --restart to redo it")
    spec = EngineSpec(opts.registry, opts.model, opts.top_k, str(config.home()))
    with ray_session(opts.address) as ray:
        _quiet_data()
        try:
            return _run(ray, opts, files, out, run_file, record, before, spec, err, started)
        except CuratorError:
            raise
        except Exception as error:  # noqa: BLE001 - a task failed in Ray: one line, the shards stay valid
            raise explain_failure(error, out) from None


def _run(ray: Any, opts: CorpusOptions, files: list[Path], out: Path, run_file: Path, record: dict[str, Any],
         before: dict[str, Any] | None, spec: EngineSpec, err: TextIO, started: float) -> CorpusSummary:
    summary = CorpusSummary()
    t0 = time.monotonic()
    print(f"reading {len(files)} file(s) and de-duplicating on Ray...", file=err, flush=True)
    partitions = shuffle_partitions(files)
    dedup = (read_corpus(ray, files, opts.column).groupby(["affiliation", "problem"], num_partitions=partitions)
             .count().materialize())
    summary.read, summary.unique, summary.dropped, summary.cut = _dedup_stats(dedup, partitions)
    summary.dedup_seconds = time.monotonic() - t0
    if summary.unique == 0:
        raise InputError(f"{opts.input}: no affiliation strings found")
    n_shards = int(before["shards"]) if before and shards.shard_files(out) else math.ceil(summary.unique / opts.shard_size)
    _write_record(run_file, {**record, "shards": n_shards, "shard_size": opts.shard_size})
    done = shards.finished_shards(out, n_shards, opts.fmt)
    summary.shards, summary.shards_skipped = n_shards, len(done)
    done_strings = sum(shards.shard_rows(out / shards.shard_name(s, n_shards, opts.fmt)) for s in done)
    print(f"{summary.read:,} strings read, {summary.unique:,} unique; {n_shards} shard(s)"
          + (f", {len(done)} already written" if done else ""), file=err, flush=True)
    matched = 0
    if len(done) < n_shards:
        actors, gpus = _pool(ray, opts.workers, str(record["engine"].get("model")))
        actors = min(actors, n_shards - len(done))
        packed = (dedup.map_batches(assign_shards, fn_kwargs={"n_shards": n_shards, "skip": frozenset(done)},
                                    batch_format="pandas")
                  .groupby("shard", num_partitions=partitions).map_groups(pack_shard, batch_format="pandas")
                  .repartition(n_shards - len(done), shuffle=False)  # one block a shard: every actor gets work
                  .materialize())  # every task done before the pool holds the CPUs (else they would wait forever)
        results = packed.map_batches(
            ShardMatcher, batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
            num_gpus=gpus or None,
            fn_constructor_args=(spec, record["engine"], str(out), n_shards, opts.fmt, opts.batch_size),
        )
        progress = Progress(summary.unique, done_strings, err)
        for batch in results.iter_batches(batch_size=1, batch_format="pandas"):
            for row in batch.itertuples():
                matched += int(row.matched)
                summary.worker_peak_mb = max(summary.worker_peak_mb, float(row.peak_mb))
                progress.add(int(row.strings))
    for s in done:  # shards of an earlier run count in the totals too
        path = out / shards.shard_name(s, n_shards, opts.fmt)
        matched += sum(r["match"] is not None for r in shards.read_shard(path, ["match"]))
    summary.unique = done_strings + (progress.done - done_strings if len(done) < n_shards else 0)
    summary.matched, summary.no_match = matched, summary.unique - matched
    summary.seconds = time.monotonic() - started
    summary.match_seconds = time.monotonic() - t0 - summary.dedup_seconds
    for line in summary.lines():
        print(line, file=err, flush=True)
    _write_record(run_file, {**record, "shards": n_shards, "shard_size": opts.shard_size, "summary": asdict(summary)})
    return summary
