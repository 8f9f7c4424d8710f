"""The batch as a table, for a quick scan (text cells only: nothing renders as HTML); choosing a
row opens its item on the Review card."""

from __future__ import annotations

import streamlit as st

from affiliation_curator.errors import CuratorError
from components import resources
from components.review_card import VIEW_NEXT_KEY, open_item
from components.text import safe_md

COLUMNS = ["position", "affiliation", "count", "decision", "institution_name", "institution_id", "score",
           "top_name", "top_score", "curator", "decided_at", "seconds_spent"]


def _own_rows(batch_id: int, curator: str) -> list[dict]:
    """A curator's view: their items of the batch (all of it unless split) with their own decisions only."""
    rows = []
    for v in resources.get_store().items(batch_id, curator=curator):
        d, top = v.decision, v.top
        rows.append({
            "item_id": v.id, "position": v.position, "affiliation": v.affiliation, "count": v.count,
            "decision": d.action if d else "", "institution_name": "; ".join(d.institution_names) if d else "",
            "institution_id": "; ".join(d.institution_ids) if d else "", "score": d.score if d else None,
            "top_name": top.name if top else "", "top_score": top.score if top else None,
            "curator": d.curator if d else "", "decided_at": d.at if d else None, "seconds_spent": d.seconds if d else None,
        })
    return rows


def batch_table(batch_id: int, curator: str | None = None) -> None:
    """The batch's resolved labels (a lead, or sign-in off); ``curator``: only their items and decisions."""
    rows = _own_rows(batch_id, curator) if curator else resources.get_store().table(batch_id)
    shown = st.segmented_control(
        "Rows", ["all", "decided", "undecided"], default="all", key="table_filter", required=True,
    )
    if shown == "decided":
        rows = [r for r in rows if r["decision"] in ("accept", "none")]
    elif shown == "undecided":
        rows = [r for r in rows if r["decision"] in ("", "skip")]
    ids = [r["item_id"] for r in rows]
    data = [{k: r.get(k) for k in COLUMNS} for r in rows]
    for r in data:
        r["position"] = (r["position"] or 0) + 1
    st.caption(f"{len(data):,} rows · choose a row to open it on the card")
    event = st.dataframe(
        data,
        hide_index=True,
        key="batch_table",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "position": st.column_config.NumberColumn("#", width="small"),
            "institution_name": st.column_config.TextColumn("institution"),
            "institution_id": st.column_config.TextColumn("id"),
            "score": st.column_config.NumberColumn("score", format="%.3f"),
            "top_name": st.column_config.TextColumn("top candidate"),
            "top_score": st.column_config.NumberColumn("top score", format="%.3f"),
            "decided_at": st.column_config.DatetimeColumn("decided", format="YYYY-MM-DD HH:mm"),
            "seconds_spent": st.column_config.NumberColumn("seconds", format="%.1f"),
        },
    )
    chosen = list(event.selection.rows) if event is not None else []
    if chosen and 0 <= chosen[0] < len(ids):
        try:
            open_item(ids[chosen[0]])
        except CuratorError as err:
            st.error(safe_md(str(err)), icon=":material/lock:")
            return
        st.session_state[VIEW_NEXT_KEY] = "Review"
        st.rerun()
