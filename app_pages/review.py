"""Review page: one affiliation at a time, decided with the keyboard; bulk accept; the batch as a table."""

from __future__ import annotations

import streamlit as st

from affiliation_curator.errors import CuratorError
from components import batch_panel, resources, state
from components.batch_table import batch_table
from components.text import safe_md
from components.bulk_accept import bulk_accept_panel
from components.review_card import FILTERS, ORDERS, review_card


st.header("Review", anchor=False)

top_left, top_right = st.columns([3, 2], vertical_alignment="bottom")
batch_id = batch_panel.batch_picker(top_left)
if batch_id is None:
    st.info("No batch is open. Bring affiliations in on the Match page first.", icon=":material/info:")
    state.page_link("app_pages/match.py", label="Go to Match", icon=":material/upload_file:")
    st.stop()

store = resources.get_store()
info = store.batch(batch_id)
try:
    registry = resources.get_registry(info.registry_name or None)
except CuratorError as err:
    registry = None
    st.warning(safe_md(f"The registry of this batch ({info.registry_name}) is not available: {err}"))

view = top_right.segmented_control(
    "View", ["Review", "Bulk accept", "Table"], default="Review", key="review_view", required=True,
    persist_state="session",
)
batch_panel.ranking_progress(batch_id)
if not state.curator():
    st.warning("Enter your name in the sidebar (Curator) to start: it is stored with each decision.",
               icon=":material/person:")

if view == "Bulk accept":
    bulk_accept_panel(batch_id, default_threshold=resources.batch_threshold(batch_id))
elif view == "Table":
    batch_table(batch_id)
else:
    order_col, filter_col = st.columns([2, 3])
    order = order_col.segmented_control(
        "Order", list(ORDERS), format_func=ORDERS.get, default="input", key="review_order", required=True,
        persist_state="session",
    )
    status = filter_col.segmented_control(
        "Show", list(FILTERS), format_func=FILTERS.get, default="undecided", key="review_filter", required=True,
        persist_state="session",
    )
    review_card(batch_id, status or "undecided", order or "input", registry, resources.scorer_notes())
