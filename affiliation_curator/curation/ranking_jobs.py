"""Background ranking: match a batch's unranked items in small chunks and save each result.

The first chunk is small so the first items of a fresh batch are reviewable within seconds
while the rest rank ahead of the curator. ``rank_batch`` is the plain, blocking function the
CLI can call; ``RankingJobs`` runs it in one daemon thread per batch per process and reports
progress. No Streamlit here: the pages poll ``RankingJobs.get(batch_id).progress()``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TYPE_CHECKING

from affiliation_curator.engine.results import MatchResult
from affiliation_curator.errors import CuratorError

if TYPE_CHECKING:
    from affiliation_curator.curation.store import Store

log = logging.getLogger(__name__)

FIRST_CHUNK = 1  # items ranked before anything else, so the curator can start at once (a CPU cross-encoder
# takes about a second an item: bench/bench_seed_model.py); later chunks double up to CHUNK
CHUNK = 32  # most items per chunk
SAVE_EVERY = 16  # results saved in one transaction (where the store can): a commit per item cost a third of the time
CLAIM_POLL = 1.0  # seconds between tries while another process holds a batch's ranking claim


class _Store(Protocol):
    def unranked_items(self, batch_id: int, limit: int) -> list[Any]: ...
    def save_result(self, item_id: int, result: MatchResult) -> None: ...


class _Matcher(Protocol):
    def match_many(self, affiliations: list[str], batch_size: int = 32, progress: Any = None) -> Iterable[MatchResult]: ...


def _item_text(item: Any) -> str:
    for attr in ("affiliation", "text"):
        value = getattr(item, attr, None)
        if isinstance(value, str):
            return value
    raise TypeError(f"store item has no affiliation text: {item!r}")


def rank_batch(
    store: _Store,
    matcher: _Matcher,
    batch_id: int,
    *,
    first_chunk: int = FIRST_CHUNK,
    chunk_size: int = CHUNK,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    claim_poll: float = CLAIM_POLL,
) -> int:
    """Rank every unranked item of a batch (input order), saving each result as it comes.

    ``progress(n)`` is called with the number of items ranked so far by this call;
    ``should_stop()`` is checked between items. Returns the number of items ranked.
    Safe to call again after an interruption: it picks up the items still unranked.

    One ranker per batch across processes: a store with ``ranking_claim`` (the database's)
    is claimed first. While another process holds the claim this call waits, and returns once
    that ranker has left nothing unranked; should that ranker stop or die first, the claim is
    free and this call ranks what is left, so a batch nobody reopens still gets ranked.
    """
    options = dict(first_chunk=first_chunk, chunk_size=chunk_size, progress=progress, should_stop=should_stop)
    claim = getattr(store, "ranking_claim", None)
    if claim is None:
        return _rank_claimed(store, matcher, batch_id, **options)
    while not (should_stop and should_stop()):
        with claim(batch_id) as held:
            if held:
                return _rank_claimed(store, matcher, batch_id, **options)
        if not store.unranked_items(batch_id, 1):
            return 0  # the other ranker finished it
        log.debug("batch %s is ranked by another process; waiting", batch_id)
        deadline = time.monotonic() + claim_poll
        while time.monotonic() < deadline and not (should_stop and should_stop()):
            time.sleep(min(0.1, claim_poll))
    return 0


def _rank_claimed(
    store: _Store,
    matcher: _Matcher,
    batch_id: int,
    *,
    first_chunk: int,
    chunk_size: int,
    progress: Callable[[int], None] | None,
    should_stop: Callable[[], bool] | None,
) -> int:
    done = 0
    limit = max(1, first_chunk)
    save_many = getattr(store, "save_results", None)  # one transaction for several items, where the store has it
    while True:
        if should_stop and should_stop():
            break
        items = store.unranked_items(batch_id, limit)
        if not items:
            break
        texts = [_item_text(item) for item in items]
        pending: list[tuple[int, MatchResult]] = []

        def flush() -> None:
            nonlocal done
            if not pending:
                return
            if save_many is not None:
                save_many(list(pending))
            else:
                for item_id, result in pending:
                    store.save_result(item_id, result)
            done += len(pending)
            pending.clear()
            if progress:
                progress(done)

        try:
            for n, (item, result) in enumerate(zip(items, matcher.match_many(texts, batch_size=min(len(texts), chunk_size))), 1):
                pending.append((item.id, result))
                if save_many is None or len(pending) >= SAVE_EVERY or n == len(items):
                    flush()
                    if should_stop and should_stop():
                        return done
        finally:
            flush()  # what was scored before an error or a stop is kept
        limit = min(max(1, chunk_size), 2 * limit)  # 1, 2, 4, ...: the next items come soon, later ones in bulk
    return done


@dataclass(slots=True)
class JobProgress:
    """A snapshot of one ranking job."""

    batch_id: int
    total: int  # items unranked when the job started
    done: int = 0
    running: bool = True
    error: str = ""
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    @property
    def per_second(self) -> float:
        end = self.finished_at or time.time()
        return self.done / max(end - self.started_at, 1e-6)


class RankingJob:
    """One batch being ranked in a daemon thread."""

    def __init__(self, store: _Store, matcher: _Matcher, batch_id: int, total: int, **options: Any) -> None:
        self.batch_id = batch_id
        self._store = store
        self._matcher = matcher
        self._options = options
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._progress = JobProgress(batch_id=batch_id, total=total)
        self._thread = threading.Thread(target=self._run, name=f"ranking-batch-{batch_id}", daemon=True)

    def start(self) -> "RankingJob":
        self._thread.start()
        return self

    def _set_done(self, n: int) -> None:
        with self._lock:
            self._progress.done = n

    def _run(self) -> None:
        error = ""
        try:
            rank_batch(
                self._store, self._matcher, self.batch_id,
                progress=self._set_done, should_stop=self._stop.is_set, **self._options,
            )
        except CuratorError as err:
            error = str(err)
        except Exception as err:  # a thread must not die silently: report it to the page
            log.exception("ranking batch %s failed", self.batch_id)
            error = f"ranking stopped: {type(err).__name__}: {err}"
        with self._lock:
            self._progress.running = False
            self._progress.error = error
            self._progress.finished_at = time.time()

    def progress(self) -> JobProgress:
        with self._lock:
            p = self._progress
            return JobProgress(p.batch_id, p.total, p.done, p.running, p.error, p.started_at, p.finished_at)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def cancel(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job; True when it has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


class RankingJobs:
    """All ranking jobs of this process: at most one running job per batch."""

    def __init__(self) -> None:
        self._jobs: dict[int, RankingJob] = {}
        self._lock = threading.Lock()

    def start(self, store: Store, matcher: _Matcher, batch_id: int, **options: Any) -> RankingJob | None:
        """Start ranking a batch unless a job for it runs already (then that job is returned).

        Returns None when the batch has nothing left to rank.
        """
        with self._lock:
            job = self._jobs.get(batch_id)
            if job is not None and job.running:
                return job
            total = _count_unranked(store, batch_id)
            if total == 0:
                return job
            job = RankingJob(store, matcher, batch_id, total, **options)
            self._jobs[batch_id] = job
            return job.start()

    def get(self, batch_id: int) -> RankingJob | None:
        with self._lock:
            return self._jobs.get(batch_id)

    def running(self, batch_id: int) -> bool:
        job = self.get(batch_id)
        return job is not None and job.running

    def cancel_all(self, timeout: float = 5.0) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        for job in jobs:
            job.join(timeout)


def _count_unranked(store: Store, batch_id: int) -> int:
    """Items still to rank (the store's progress when it says so, else by listing)."""
    counter = getattr(store, "count_unranked", None)
    if callable(counter):
        return int(counter(batch_id))
    return len(store.unranked_items(batch_id, 10**9))
