"""The engine, assembled in one place: registry + scorer + Matcher.

The CLI (``match``, ``evaluate``, ``serve``, ``decisions import``), the app, the Ray workers of
``match --ray`` and the benches all build their engine here, so a change to how an engine is
made (trust, fallback, combiner, candidate counts) reaches every door at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from affiliation_curator.engine import reranker
from affiliation_curator.engine.combiner import old_pickle
from affiliation_curator.engine.matcher import Matcher
from affiliation_curator.errors import InputError, ModelLoadError
from affiliation_curator.institution import Institution
from affiliation_curator.registry import Registry, RegistryCatalog


def open_registry(registry: Registry | str | None = None) -> Registry:
    """A registry: given as is, by imported name or dump path, or the active one (None)."""
    if isinstance(registry, Registry):
        return registry
    catalog = RegistryCatalog()
    return catalog.resolve(registry) if registry else catalog.load()


def open_scorer(model: str | None = None, *, exact: bool = True, trust_remote_code: bool = False) -> reranker.Scorer:
    """The scorer for ``model`` (a hub id, a model folder or ``lexical-fallback``).

    ``exact`` (what a command-line ``--model`` means): exactly that model, or a ModelLoadError
    naming the problem. Otherwise, and always when ``model`` is None (the configured model),
    the best local scorer stands in when it cannot be loaded and says why (``fallback_reason``).
    """
    if not model or not exact:
        return reranker.load_scorer(model or None)
    if model.strip() == reranker.LEXICAL_MODEL_ID:
        return reranker.LexicalScorer()
    try:
        return reranker.load_cross_encoder(model, trust_remote_code=trust_remote_code)
    except ModelLoadError:
        raise
    except Exception as err:  # noqa: BLE001 - any loader failure is a user-facing model problem
        raise ModelLoadError(f"cannot load model {model!r}: {err}") from None


def build_engine(
    registry: Registry | Sequence[Institution] | str | None = None,
    model: str | reranker.Scorer | None = None,
    *,
    top_k: int = 10,
    n_retrieve: int | None = None,
    exact: bool = True,
    trust_remote_code: bool = False,
    **options: Any,
) -> Matcher:
    """The Matcher for a registry and a model (a scorer object is used as given); ``options``
    go to ``Matcher`` (retriever, threshold, combiner, n_rerank...)."""
    if top_k < 1:
        raise InputError("--top-k must be at least 1")
    if not isinstance(registry, Sequence) or isinstance(registry, str):
        registry = open_registry(registry)
    scorer = model if model is not None and not isinstance(model, str) else open_scorer(
        model, exact=exact, trust_remote_code=trust_remote_code)
    return Matcher(registry, scorer=scorer, top_k=top_k, n_retrieve=n_retrieve or max(20, top_k), **options)


def engine_record(matcher: Matcher, top_k: int) -> dict[str, Any]:
    """What decides the results (registry, scorer, candidates per string, threshold): written
    beside the results of ``match`` so a resumed run refuses another engine's output."""
    registry = matcher.registry
    record = {"registry": registry.name, "registry_version": registry.meta.version,
              "institutions": len(registry), "model": matcher.model_id,
              "combiner": matcher.combiner is not None, "top_k": top_k,
              "threshold": round(float(matcher.threshold), 6)}
    if matcher.cascade is not None:  # it decides which strings the model reranks (absent: every one, as before)
        record["cascade"] = matcher.cascade.describe()
    return record


def engine_lines(matcher: Matcher) -> list[str]:
    """What a command says about the engine it uses: registry, scorer (and why a stand-in
    scores, if one does) and the second-stage combiner."""
    registry, scorer = matcher.registry, matcher.scorer
    reason = getattr(scorer, "fallback_reason", "")
    note = f" (configured model unavailable: {reason})" if reason else ""
    lines = [f"registry {registry.name} ({len(registry):,} institutions); scorer {scorer.model_id}{note}"]
    if matcher.combiner is not None or old_pickle(matcher.scorer, matcher.lexical) is not None:
        lines.append(matcher.combiner_note())  # which combiner ranks, or that an old one is not read
    if matcher.cascade is not None:
        lines.append(matcher.cascade.describe())
    scale = getattr(matcher, "scale", None)
    if scale is not None:
        lines.append(f"scores: {scale.label}; threshold {matcher.threshold:.3f}")
    return lines
