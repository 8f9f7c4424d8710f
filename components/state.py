"""Session-wide state the pages share: the curator's name and the open batch.

The open batch lives in the URL (``?batch=ID``) so a reload returns to it; the session
remembers it across page switches (which drop query parameters) and puts it back.
The curator's name is asked once in the sidebar and saved in the settings file, so a
restart or a new tab prefills it.
"""

from __future__ import annotations

import streamlit as st

from affiliation_curator.config import Settings

CURATOR_KEY = "curator"
BATCH_KEY = "batch_id"
PENDING_KEY = "batch_id_pending"  # set by callbacks: the query string of that rerun still names the old batch
MAX_NAME_CHARS = 80


def _save_curator() -> None:
    name = (st.session_state.get(CURATOR_KEY) or "").strip()
    settings = Settings.load()
    if settings.curator != name:
        settings.curator = name
        settings.save()


def curator_sidebar() -> str:
    """The sidebar name field; returns the (trimmed) curator name, "" when none is given."""
    if CURATOR_KEY not in st.session_state:
        st.session_state[CURATOR_KEY] = Settings.load().curator
    name = st.sidebar.text_input(
        "Curator",
        key=CURATOR_KEY,
        max_chars=MAX_NAME_CHARS,
        placeholder="Your name (stored with each decision)",
        on_change=_save_curator,
        help="Asked once: stored with every decision you make and remembered on this machine.",
    )
    return (name or "").strip()


def context_sidebar() -> None:
    """Which registry and model new batches use (the Registry and Train pages change them)."""
    from affiliation_curator.config import DEFAULT_MODEL_ID
    from affiliation_curator.errors import CuratorError
    from components import resources
    from components.text import safe_md

    try:
        meta = resources.get_catalog().active_meta()
        registry = safe_md(f"{meta.name} ({meta.version}, {meta.count:,} institutions)", 100)
    except CuratorError as err:
        registry = safe_md(f"unavailable: {err}", 120)
    setting = Settings.load().model
    configured = setting or DEFAULT_MODEL_ID
    scoring = resources.scoring_now(setting)
    if scoring is None:
        model = f"{safe_md(configured, 90)} (loads with the first ranking)"
    else:
        model_id, description, reason = scoring
        model = safe_md(description, 140)
        if reason:
            # the reason is long; the Match page and the Review caption give it in full
            model = f"{safe_md(model_id, 60)}, standing in for {safe_md(configured, 60)} (unavailable here)"
    st.sidebar.caption(f"Registry: {registry}  \nModel: {model}")


def curator() -> str:
    return (st.session_state.get(CURATOR_KEY) or "").strip()


def current_batch_id() -> int | None:
    """The open batch: one just chosen, else the URL's ``batch`` parameter, else the one this session had open."""
    pending = st.session_state.pop(PENDING_KEY, None)
    if isinstance(pending, int):
        st.session_state[BATCH_KEY] = pending
        st.query_params["batch"] = str(pending)
        return pending
    raw = st.query_params.get("batch")
    if raw is not None:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = None
        if value is not None and value > 0:
            st.session_state[BATCH_KEY] = value
            return value
    value = st.session_state.get(BATCH_KEY)
    if isinstance(value, int):
        st.query_params["batch"] = str(value)  # page switches drop query params: put it back
        return value
    return None


def open_batch(batch_id: int | None) -> None:
    """Make a batch the open one (in the session and in the URL)."""
    if batch_id is None:
        st.session_state.pop(BATCH_KEY, None)
        st.session_state.pop(PENDING_KEY, None)
        st.query_params.pop("batch", None)
        return
    st.session_state[BATCH_KEY] = int(batch_id)
    st.session_state[PENDING_KEY] = int(batch_id)
    st.query_params["batch"] = str(int(batch_id))
