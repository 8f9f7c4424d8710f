"""The batch as a table, for a quick scan (text cells only: nothing renders as HTML)."""

from __future__ import annotations

import streamlit as st

from components import resources

COLUMNS = ["position", "affiliation", "count", "decision", "institution_name", "institution_id", "score",
           "top_name", "top_score", "curator", "decided_at", "seconds_spent"]


def batch_table(batch_id: int) -> None:
    rows = resources.get_store().table(batch_id)
    shown = st.segmented_control(
        "Rows", ["all", "decided", "undecided"], default="all", key="table_filter", required=True,
    )
    if shown == "decided":
        rows = [r for r in rows if r["decision"] in ("accept", "none")]
    elif shown == "undecided":
        rows = [r for r in rows if r["decision"] in ("", "skip")]
    data = [{k: r.get(k) for k in COLUMNS} for r in rows]
    for r in data:
        r["position"] = (r["position"] or 0) + 1
    st.caption(f"{len(data):,} rows")
    st.dataframe(
        data,
        hide_index=True,
        key="batch_table",
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
