"""Background ranking: chunks, progress, resume after interruption, errors reported."""

from __future__ import annotations

import threading

from affiliation_curator.engine.results import Candidate, MatchResult
from affiliation_curator.errors import ModelLoadError
from affiliation_curator.curation.ranking_jobs import RankingJobs, rank_batch


class FakeItem:
    def __init__(self, item_id: int, affiliation: str) -> None:
        self.id = item_id
        self.affiliation = affiliation


class FakeStore:
    def __init__(self, n: int) -> None:
        self.items = [FakeItem(i, f"affiliation {i}") for i in range(n)]
        self.results: dict[int, MatchResult] = {}
        self.limits: list[int] = []

    def unranked_items(self, batch_id: int, limit: int) -> list[FakeItem]:
        self.limits.append(limit)
        return [it for it in self.items if it.id not in self.results][:limit]

    def save_result(self, item_id: int, result: MatchResult) -> None:
        self.results[item_id] = result


class GroupStore(FakeStore):
    """A store that saves several results in one transaction, as the real one does."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.groups: list[int] = []

    def save_results(self, results) -> None:
        self.groups.append(len(results))
        for item_id, result in results:
            self.results[item_id] = result


class FakeMatcher:
    def __init__(self, gate: threading.Event | None = None, fail_after: int | None = None) -> None:
        self.gate = gate
        self.fail_after = fail_after
        self.seen = 0
        self.batch_sizes: list[int] = []

    def match_many(self, affiliations, batch_size=32, progress=None):
        self.batch_sizes.append(batch_size)
        for text in affiliations:
            if self.gate is not None:
                self.gate.wait(5)
            if self.fail_after is not None and self.seen >= self.fail_after:
                raise ModelLoadError("model vanished")
            self.seen += 1
            yield MatchResult(text, [Candidate("x", "X", 0.9)], "x", model="fake")


def test_rank_batch_ranks_everything_first_chunk_small():
    store = FakeStore(40)
    seen = []
    n = rank_batch(store, FakeMatcher(), 1, first_chunk=5, chunk_size=16, progress=seen.append)
    assert n == 40 and len(store.results) == 40
    assert store.limits[:4] == [5, 10, 16, 16]  # the chunk doubles after the first, up to chunk_size
    assert seen[-1] == 40 and seen[:5] == [1, 2, 3, 4, 5]
    assert store.results[7].affiliation == "affiliation 7"


def test_rank_batch_saves_a_chunk_in_groups_and_keeps_what_was_scored_before_an_error():
    from affiliation_curator.curation.ranking_jobs import SAVE_EVERY

    store, seen = GroupStore(70), []
    assert rank_batch(store, FakeMatcher(), 1, first_chunk=1, chunk_size=40, progress=seen.append) == 70
    assert len(store.results) == 70 and max(store.groups) <= SAVE_EVERY
    assert store.groups[:3] == [1, 2, 4]  # the first items still come one chunk at a time
    assert seen == sorted(seen) and seen[-1] == 70 and len(seen) == len(store.groups)
    failing = GroupStore(30)
    try:
        rank_batch(failing, FakeMatcher(fail_after=21), 1, first_chunk=30, chunk_size=30)
    except ModelLoadError:
        pass
    else:
        raise AssertionError("the matcher's error must reach the job")
    assert len(failing.results) == 21  # 16 saved in a group, the 5 scored after it saved on the way out


def test_rank_batch_stops_and_resumes():
    store = FakeStore(10)
    def stop() -> bool:
        return len(store.results) >= 3

    assert rank_batch(store, FakeMatcher(), 1, first_chunk=5, should_stop=stop) == 3
    assert rank_batch(store, FakeMatcher(), 1) == 7
    assert len(store.results) == 10


def test_jobs_one_per_batch_progress_and_finish():
    store = FakeStore(12)
    gate = threading.Event()
    jobs = RankingJobs()
    job = jobs.start(store, FakeMatcher(gate), 7, first_chunk=2, chunk_size=4)
    assert job is not None
    assert jobs.start(store, FakeMatcher(), 7) is job  # still running: the same job
    assert jobs.running(7)
    p = job.progress()
    assert p.total == 12 and p.running
    gate.set()
    assert job.join(10)
    p = job.progress()
    assert p.done == 12 and not p.running and p.error == "" and p.fraction == 1.0
    assert not jobs.running(7)
    # nothing left to rank: no new job
    assert jobs.start(store, FakeMatcher(), 7) is job


def test_job_error_is_reported_and_saved_results_kept():
    store = FakeStore(10)
    jobs = RankingJobs()
    job = jobs.start(store, FakeMatcher(fail_after=4), 1, first_chunk=2, chunk_size=4)
    assert job.join(10)
    p = job.progress()
    assert not p.running and p.error == "model vanished"
    assert len(store.results) == 4


def test_cancel_all_stops_jobs():
    store = FakeStore(50)
    gate = threading.Event()
    jobs = RankingJobs()
    job = jobs.start(store, FakeMatcher(gate), 1, first_chunk=1, chunk_size=1)
    job.cancel()
    gate.set()
    jobs.cancel_all()
    assert not job.running
    assert len(store.results) < 50
