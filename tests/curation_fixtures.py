"""A store filled through the core API: the sample affiliations ranked against the demo registry
(lexical scorer) and decided by two curators on two days. Used by the Export, Train and Evaluate
page tests and the fine-tuning/evaluation unit tests.

The matcher results are computed once per session (``demo_results``); ``fill_store`` writes a
batch and its decisions into the test's own database (each test has its own data directory).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from affiliation_curator import config
from affiliation_curator.engine.results import MatchResult

NONE_STRINGS = {
    "EOG Resources, Inc",
    "Independent researcher",
    "Bright Insights Consulting GmbH, Frankfurt am Main, Germany",
    "Private practice, Lyon, France",
}
ANN_DAY = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)
BOB_DAY = datetime(2024, 4, 2, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def demo_institutions():
    from affiliation_curator.registry import parse_registry_file

    return parse_registry_file(config.DEMO_REGISTRY_PATH).institutions


@pytest.fixture(scope="session")
def demo_results(demo_institutions) -> list[MatchResult]:
    """The sample affiliations matched against the demo registry with the lexical scorer."""
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.engine.reranker import LexicalScorer

    strings = [s for s in config.SAMPLE_AFFILIATIONS_PATH.read_text(encoding="utf-8").splitlines() if s.strip()]
    return list(Matcher(demo_institutions, LexicalScorer()).match_many(strings))


class _Clock:
    def __init__(self) -> None:
        self.now = ANN_DAY

    def __call__(self) -> datetime:
        return self.now


def fill_store(results: list[MatchResult], name: str = "Samples", limit: int | None = None) -> tuple[object, int]:
    """A ranked batch of the results, decided: "none of these" for the strings naming no registry
    institution (Bob), the top candidate accepted for the rest (Ann for even positions on ANN_DAY,
    Bob for odd ones on BOB_DAY), and the second candidate of the first three accepted rejected."""
    from affiliation_curator.curation.store import Store

    clock = _Clock()
    store = Store(clock=clock)
    chosen = results[:limit] if limit else results
    batch_id = store.create_batch(name, [r.affiliation for r in chosen], registry_name="demo",
                                  registry_version="demo", model_id="lexical-fallback")
    rejected = 0
    for item, result in zip(store.items(batch_id), chosen):
        store.save_result(item.id, result)
        if item.affiliation in NONE_STRINGS:
            clock.now = BOB_DAY
            store.decide(item.id, "none", "Bob")
        elif result.candidates:
            curator = "Ann" if item.position % 2 == 0 else "Bob"
            clock.now = ANN_DAY if curator == "Ann" else BOB_DAY
            store.decide(item.id, "accept", curator, result.candidates[0].id)
            if rejected < 3 and len(result.candidates) > 1:
                store.decide(item.id, "reject", curator, result.candidates[1].id)
                rejected += 1
    return store, batch_id
