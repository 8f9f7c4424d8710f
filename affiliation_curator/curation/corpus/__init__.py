"""Matching whole corpora on a Ray cluster (``match --ray``) and bringing the results to review."""

from affiliation_curator.curation.corpus.run import CorpusError, CorpusOptions, CorpusSummary, run_corpus

__all__ = ["CorpusError", "CorpusOptions", "CorpusSummary", "run_corpus"]
