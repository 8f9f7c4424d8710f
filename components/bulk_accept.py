"""Bulk accept: every undecided item whose top score clears a threshold, after a preview; one undo step."""

from __future__ import annotations

from typing import Any

import streamlit as st

from affiliation_curator.errors import CuratorError
from components import resources, state
from components.text import safe_md

PREVIEW_ROWS = 500


def _apply(batch_id: int, threshold: float, previewed: list[tuple[int, str]]) -> None:
    """Accept exactly the previewed items that still qualify (one undo group)."""
    curator = state.curator()
    store = resources.get_store()
    try:
        now = {(b.item_id, b.institution_id): b for b in store.bulk_accept(batch_id, threshold, curator, preview=True)
               if not b.held}
        chosen = [now[key] for key in previewed if key in now]
        if not chosen:
            st.session_state["bulk_notice"] = ("info", "Nothing to accept: the previewed items are decided already.")
            return
        store.record_decisions(
            batch_id,
            [(b.item_id, "accept", b.institution_id, b.name) for b in chosen],
            curator,
            kind="bulk_accept",
            description=f"bulk accept of {len(chosen):,} items scoring >= {threshold:.2f}",
        )
    except CuratorError as err:
        st.session_state["bulk_notice"] = ("error", str(err))
        return
    gone = len(previewed) - len(chosen)
    extra = f" ({gone:,} of the preview were decided meanwhile and left alone)" if gone else ""
    st.session_state["bulk_notice"] = (
        "success",
        f"Accepted {len(chosen):,} items{extra}. Undo (U on the Review card or the button below) takes them back as one step.",
    )


def _undo(batch_id: int) -> None:
    result = resources.get_store().undo(batch_id, curator=state.curator() or None)
    message = "Nothing to undo." if result is None else f"Undone: {result.description}"
    st.session_state["bulk_notice"] = ("info", message)


def bulk_accept_panel(batch_id: int, default_threshold: float) -> None:
    store = resources.get_store()
    curator = state.curator()
    notice = st.session_state.pop("bulk_notice", None)
    if notice:
        {"success": st.success, "error": st.error}.get(notice[0], st.info)(safe_md(notice[1]))
    threshold = st.slider(
        "Accept the top candidate of every undecided item scoring at least",
        min_value=0.0, max_value=1.0, value=float(round(default_threshold, 2)), step=0.01, key="bulk_threshold",
    )
    listed: list[Any] = store.bulk_accept(batch_id, threshold, curator or "preview", preview=True)
    preview = [b for b in listed if not b.held]
    held = len(listed) - len(preview)
    st.markdown(f"**{len(preview):,}** undecided ranked items have a top score of at least {threshold:.2f}."
                + (f" **{held:,}** more are held back for review (flagged below): their top candidate is an "
                   "inactive or withdrawn record whose active successor is among the candidates." if held else ""))
    if listed:
        st.dataframe(
            [
                {"affiliation": b.affiliation, "institution": b.name, "id": b.institution_id, "score": round(b.score, 3),
                 "flag": f"not accepted: {b.held}" if b.held else ""}
                for b in listed[:PREVIEW_ROWS]
            ],
            hide_index=True,
            key="bulk_preview",
            column_config={"score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.3f")},
        )
        if len(listed) > PREVIEW_ROWS:
            st.caption(f"first {PREVIEW_ROWS:,} of {len(listed):,} shown")
    cols = st.columns(2)
    cols[0].button(
        f"Accept these {len(preview):,} items",
        key="bulk_apply",
        type="primary",
        disabled=not preview or not curator,
        on_click=_apply,
        args=(batch_id, threshold, [(b.item_id, b.institution_id) for b in preview]),
    )
    cols[1].button("Undo the last step", key="bulk_undo", disabled=not curator, on_click=_undo, args=(batch_id,))
    if not curator:
        st.caption("Enter your name in the sidebar to accept.")
