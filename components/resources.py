"""Process-wide resources, loaded once per process (not per rerun) with ``st.cache_resource``."""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

import streamlit as st

from affiliation_curator import config
from affiliation_curator.curation.ranking_jobs import RankingJobs

if TYPE_CHECKING:
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.registry import Registry, RegistryCatalog

# model setting ("" = the default model) -> the newest engine built for it; read live, since an engine
# whose model fails while scoring replaces its scorer (matching.Matcher._fall_back)
_ENGINES: dict[str, Any] = {}
_COMBINED: set[tuple[str, str]] = set()  # (registry, model id) engines that rank with a learned combiner
_SCALES: dict[tuple[str, str], Any] = {}  # (registry, model id) -> the ScoreScale its scores are on


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Any:
    from affiliation_curator.curation.store import Store

    return Store(url)


def get_store() -> Any:
    """The decision store (one per database URL, so a changed data directory gets its own)."""
    return _store(config.database_url())


@st.cache_resource(show_spinner=False)
def _catalog(registries_dir: str) -> RegistryCatalog:
    from affiliation_curator.registry import RegistryCatalog

    catalog = RegistryCatalog()
    catalog.ensure_demo()
    return catalog


def get_catalog() -> RegistryCatalog:
    """The registry catalogue of the data directory (the demo registry imported on first use)."""
    return _catalog(str(config.registries_dir()))


def get_registry(name: str | None = None) -> Registry:
    """A registry by name (the active one by default); the catalogue caches it by name and content."""
    return get_catalog().load(name or None)


@st.cache_resource(show_spinner="Loading the reranker model…", max_entries=4)
def _matcher(registries_dir: str, registry_name: str, version_key: str, model: str) -> Matcher:
    from affiliation_curator.engine.assemble import build_engine

    registry = get_registry(registry_name)
    matcher = build_engine(registry, model or None, exact=False)  # the configured model, or a stand-in that says why
    model_id, _fallback = scorer_note(matcher)
    _ENGINES[model] = matcher
    # whether a combiner ranks depends on the registry too (none for one much smaller than it was fitted on)
    if matcher.combiner is not None:
        _COMBINED.add((registry_name, model_id))
    else:
        _COMBINED.discard((registry_name, model_id))
    _SCALES[(registry_name, model_id)] = matcher.scale
    return matcher


def get_matcher(registry_name: str | None = None, model: str | None = None) -> Matcher:
    """The engine for a registry and model (the configured model by default)."""
    registry = get_registry(registry_name)
    model = config.Settings.load().model if model is None else model
    return _matcher(str(config.registries_dir()), registry.name, _version_key(registry), model or "")


def _version_key(registry: Registry) -> str:
    return str(registry.version_key)


@st.cache_resource(show_spinner=False)
def _jobs(url: str) -> RankingJobs:
    return RankingJobs()


def get_jobs() -> RankingJobs:
    """The ranking jobs of this server process for the current database (they survive reruns and page switches)."""
    return _jobs(config.database_url())


def scorer_note(matcher: Matcher) -> tuple[str, str]:
    """(model id, fallback reason or "") of the matcher's scorer."""
    scorer = getattr(matcher, "scorer", None)
    return str(getattr(scorer, "model_id", "") or "?"), str(getattr(scorer, "fallback_reason", "") or "")


def with_combiner(registry_name: str, model_id: str) -> bool:
    """Whether this process's engine for this registry and model ranks with a learned second-stage combiner."""
    return (registry_name, model_id) in _COMBINED


def score_scale(registry_name: str, model_id: str) -> Any:
    """The scale (engine.score_scale.ScoreScale) of this process's engine for this registry and model;
    None before this process has loaded it."""
    return _SCALES.get((registry_name, model_id))


def scorer_notes() -> dict[str, str]:
    """Fallback reasons of the scorers scoring in this process, by model id ("" where none stands in)."""
    notes: dict[str, str] = {}
    for matcher in list(_ENGINES.values()):
        model_id, reason = scorer_note(matcher)
        if reason or model_id not in notes:
            notes[model_id] = reason
    return notes


def scoring_now(model_setting: str) -> tuple[str, str, str] | None:
    """(model id, description, why it stands in or "") of what scores for a model setting; None before
    this process has loaded it."""
    matcher = _ENGINES.get(model_setting)
    if matcher is None:
        return None
    model_id, reason = scorer_note(matcher)
    describe = getattr(matcher.scorer, "description", "") or model_id
    return model_id, str(describe), reason


def batch_threshold(batch_id: int) -> float:
    """The decision threshold the batch's items were scored with (0.5 before any is ranked)."""
    items = get_store().items(batch_id, order="uncertain", limit=1)  # ranked items come first
    if items and items[0].threshold is not None:
        return float(items[0].threshold)
    return 0.5
