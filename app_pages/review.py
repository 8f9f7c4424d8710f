"""Review page: one affiliation at a time, decided with the keyboard; bulk accept; the batch as a table."""

from __future__ import annotations

import streamlit as st

from affiliation_curator.errors import CuratorError
from affiliation_curator.team import sharing as team_sharing
from components import batch_panel, resources, state
from components.keyboard import keyboard_focus
from components.batch_table import batch_table
from components.text import safe_md
from components.bulk_accept import bulk_accept_panel
from components.review_card import FILTERS, ORDERS, VIEW_NEXT_KEY, open_item, review_card


# Two short rows above the card (the batch and the view; the queue's order and filter), their
# labels only for screen readers, no page title (the sidebar says which page this is): the card
# starts high enough that the string and the first three candidates fit a 1280x720 window.
def _open_item_from_url() -> None:
    """``?item=ID`` opens that item on the card, when it is one of this user's items (once: the
    parameter is dropped); otherwise a refusal that names the item, not its contents."""
    raw = st.query_params.get("item")
    if raw is None:
        return
    st.query_params.pop("item", None)
    try:
        item_id = int(str(raw).strip())
    except ValueError:
        st.error(safe_md(f"Not an item number: {str(raw)[:40]}"), icon=":material/error:")
        return
    try:
        open_item(item_id)
    except CuratorError as err:
        st.error(safe_md(str(err)), icon=":material/lock:")


_open_item_from_url()
batch_col, view_col = st.columns([5, 3], vertical_alignment="center")
batch_id = batch_panel.batch_picker(batch_col, label_visibility="collapsed")
if batch_id is None:
    from affiliation_curator.team.access import visible_batches

    me = state.identity()
    if visible_batches(resources.get_store(), me):
        st.info("No batch is open: choose one above.", icon=":material/info:")
    elif me is not None and not me.is_lead:
        st.info("No batch is shared with you yet: a lead shares one on the Team page.", icon=":material/info:")
    else:
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

who = state.identity()
curator_only = who is not None and not who.is_lead
split = team_sharing.split_curators(store, batch_id) is not None
# a curator's bulk accept in a split batch would decide items that are other curators': a lead's tool there
views = ["Review", "Table"] if curator_only and split else ["Review", "Bulk accept", "Table"]
if st.session_state.get(VIEW_NEXT_KEY) in views:  # e.g. a row chosen in the Table opens the card
    st.session_state["review_view"] = st.session_state.pop(VIEW_NEXT_KEY)
if "review_view" in st.session_state and st.session_state["review_view"] not in views:
    del st.session_state["review_view"]  # back to the default view
view = view_col.segmented_control(
    "View", views, default="Review", key="review_view", required=True,
    persist_state="session", label_visibility="collapsed",
)
batch_panel.ranking_progress(batch_id)
if not state.curator():
    st.warning("Enter your name in the sidebar (Curator) to start: it is stored with each decision.",
               icon=":material/person:")

if view == "Bulk accept":
    bulk_accept_panel(batch_id, default_threshold=resources.batch_threshold(batch_id))
elif view == "Table":
    batch_table(batch_id, who.name if curator_only else None)
else:
    queue = st.container(horizontal=True, gap="large", vertical_alignment="center")
    order = queue.segmented_control(
        "Order", list(ORDERS), format_func=ORDERS.get, default="input", key="review_order", required=True,
        persist_state="session", label_visibility="collapsed",
    )
    status = queue.segmented_control(
        "Show", list(FILTERS), format_func=FILTERS.get, default="undecided", key="review_filter", required=True,
        persist_state="session", label_visibility="collapsed",
    )
    review_card(batch_id, status or "undecided", order or "input", registry, resources.scorer_notes())
keyboard_focus()  # last on the page: the focus rules take no room above the card
