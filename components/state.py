"""Session-wide state the pages share: the curator's name and the open batch.

The open batch lives in the URL (``?batch=ID``) so a reload returns to it; the session
remembers it across page switches (which drop query parameters) and puts it back.

The curator's name belongs to one browser tab, never to the server: with sign-in on it is the
signed-in user's (``components.signin``); with sign-in off it is asked in the sidebar and kept
in the session and the tab's URL (``?curator=NAME``), so a reload of that tab keeps it while
another tab or another person starts with an empty box.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from affiliation_curator.config import Settings

CURATOR_KEY = "curator"
IDENTITY_KEY = "identity"  # set by components.signin: the signed-in Identity
BATCH_KEY = "batch_id"
PENDING_KEY = "batch_id_pending"  # set by callbacks: the query string of that rerun still names the old batch
MAX_NAME_CHARS = 80


def _url_name() -> str:
    raw = st.query_params.get(CURATOR_KEY)
    return str(raw or "").strip()[:MAX_NAME_CHARS]


def _keep_curator_in_url() -> None:
    name = (st.session_state.get(CURATOR_KEY) or "").strip()
    if name:
        st.query_params[CURATOR_KEY] = name
    else:
        st.query_params.pop(CURATOR_KEY, None)


def curator_sidebar() -> str:
    """The sidebar name field (sign-in off); returns the (trimmed) curator name, "" when none is given."""
    if CURATOR_KEY not in st.session_state:
        st.session_state[CURATOR_KEY] = _url_name()  # this tab's own name after a reload
    name = st.sidebar.text_input(
        "Curator",
        key=CURATOR_KEY,
        max_chars=MAX_NAME_CHARS,
        placeholder="Your name (stored with each decision)",
        on_change=_keep_curator_in_url,
        help="Stored with every decision you make; kept for this browser tab (a reload keeps it).",
    )
    name = (name or "").strip()
    if name and st.query_params.get(CURATOR_KEY) != name:
        st.query_params[CURATOR_KEY] = name  # page switches drop query parameters: put it back
    return name


def registry_line(meta: Any) -> str:
    """"demo (2026-06, 104 institutions)"; a registry without a version reads "hostile (8 institutions)",
    not "hostile (, 8 institutions)"."""
    about = ", ".join(x for x in (str(meta.version or "").strip(), f"{meta.count:,} institutions") if x)
    return f"{meta.name} ({about})"


def context_sidebar() -> None:
    """Which registry and model new batches use (the Registry and Train pages change them)."""
    from affiliation_curator.config import DEFAULT_MODEL_ID
    from affiliation_curator.errors import CuratorError
    from components import resources
    from components.text import safe_md

    try:
        meta = resources.get_catalog().active_meta()
        registry = safe_md(registry_line(meta), 100)
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


def identity():  # noqa: ANN201 - affiliation_curator.team.users.Identity | None
    """Who acts in this session: the signed-in user; with sign-in off, the sidebar name as a lead
    (a one-person tool may do everything); None without a name."""
    from affiliation_curator.team.users import Identity

    signed_in = st.session_state.get(IDENTITY_KEY)
    if signed_in is not None:
        return signed_in
    name = (st.session_state.get(CURATOR_KEY) or "").strip()
    return Identity(name, "lead") if name else None


def curator() -> str:
    who = st.session_state.get(IDENTITY_KEY)
    if who is not None:
        return who.name
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


def page_link(page: str, **kwargs) -> None:  # noqa: ANN003
    """``st.page_link`` to a page this user may open; nothing for a page their role does not have."""
    from streamlit.errors import StreamlitPageNotFoundError

    try:
        st.page_link(page, **kwargs)
    except StreamlitPageNotFoundError:
        pass  # with sign-in on, a curator's navigation has no lead pages: no link to them
