"""Our saved reranker models: the list with their cards, choosing the active one, model pickers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from affiliation_curator import config
from affiliation_curator.engine.model_source import is_hub_id
from affiliation_curator.engine.reranker import LEXICAL_MODEL_ID, local_models
from components.text import clean, safe_md

CONFIGURED = ""  # the value meaning "the configured model" in pickers


def active_model() -> str:
    """The configured reranker setting ("" = the default hub model)."""
    return config.Settings.load().model


def describe(value: str) -> str:
    """A short label for a model setting value."""
    if value == CONFIGURED:
        return config.DEFAULT_MODEL_ID + " (default)"
    if value == LEXICAL_MODEL_ID:
        return "lexical fallback (no model)"
    path = Path(value)
    if path.is_dir() and path.parent == config.models_dir():
        return path.name
    if is_hub_id(value):
        return clean(value, 80) + " (Hugging Face Hub)"
    return clean(value, 80)


def hub_choices() -> list[str]:
    """Hub models a page may offer: the default model and those the operator allows (``model allow``)."""
    return list(dict.fromkeys([config.DEFAULT_MODEL_ID, *config.Settings.load().allowed_models]))


def saved_models() -> list[tuple[Path, Any]]:
    return local_models()


def set_active(value: str) -> None:
    settings = config.Settings.load()
    settings.model = value
    settings.save()


def _figure(card: Any, key: str) -> float | None:
    after = ((card.metrics or {}).get("validation") or {}).get("after") or {}
    value = after.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def models_table(key: str = "models_table") -> None:
    """Our saved models (newest first) with their cards; the active one marked."""
    models = saved_models()
    active = active_model()
    st.caption(f"Active reranker: {safe_md(describe(active))}. Models are kept in {safe_md(config.models_dir())}.")
    if not models:
        st.caption("No saved models yet.")
        return
    rows = []
    for folder, card in models:
        training = card.training or {}
        curated = training.get("curated") or {}
        rows.append({
            "active": str(folder) == active,
            "model": folder.name,
            "created": (card.created or "")[:16].replace("T", " "),
            "base": clean(card.base_model, 60),
            "threshold": card.threshold,
            "steps": training.get("steps"),
            "train pairs": curated.get("train pairs", training.get("pairs")),
            "validation acc@1": _figure(card, "accuracy@1"),
            "validation ndcg@10": _figure(card, "ndcg@10"),
        })
    st.dataframe(
        rows, hide_index=True, key=key,
        column_config={
            "active": st.column_config.CheckboxColumn("active", width="small"),
            "threshold": st.column_config.NumberColumn("threshold", format="%.3f"),
            "validation acc@1": st.column_config.NumberColumn(format="%.3f"),
            "validation ndcg@10": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def model_choices(include_lexical: bool = True) -> list[str]:
    """Values for a model picker: the configured model, our saved models, the allowed hub models, (the lexical
    fallback). Pages offer nothing else: a model is never a path or id typed into a web form."""
    values = [CONFIGURED] + [str(folder) for folder, _ in saved_models()]
    active = active_model()
    if active and active not in values:
        values.insert(1, active)
    values += [v for v in hub_choices() if v not in values and (v != config.DEFAULT_MODEL_ID or active)]
    if include_lexical and LEXICAL_MODEL_ID not in values:
        values.append(LEXICAL_MODEL_ID)
    return values


def choice_label(value: str) -> str:
    active = active_model()
    if value == CONFIGURED:
        return f"Active model: {describe(active)}"
    return describe(value) + (" (active)" if value == active else "")


def use_model_panel(key: str = "use_model") -> None:
    """Pick a saved model (or the default / lexical) and make it the active reranker."""
    values = [CONFIGURED] + [str(folder) for folder, _ in saved_models()] + [LEXICAL_MODEL_ID]
    active = active_model()
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox(
        "Make active", values, index=values.index(active) if active in values else 0, key=f"{key}_choice",
        format_func=describe,
        help="The active reranker ranks new batches in the app and the command line (`model use`).",
    )

    def _use() -> None:
        set_active(st.session_state.get(f"{key}_choice") or CONFIGURED)
        st.session_state[f"{key}_notice"] = describe(st.session_state.get(f"{key}_choice") or CONFIGURED)

    right.button("Use this model", key=f"{key}_button", on_click=_use, disabled=chosen == active,
                 icon=":material/check:")
    notice = st.session_state.pop(f"{key}_notice", None)
    if notice:
        st.success(f"Active reranker: {safe_md(notice)}. New batches are ranked with it.", icon=":material/check_circle:")
