"""Batches: the overview table, the batch picker, ranking progress (polled while a job runs)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import streamlit as st

from affiliation_curator import config
from affiliation_curator.errors import CuratorError
from affiliation_curator.curation.intake import open_xlsx
from components import resources, state
from components.text import clean, safe_md
from components.errors import guarded

POLL_SECONDS = 1.0


def columns_of(data: bytes, filename: str) -> list[str]:
    """Column names of an uploaded table (first row) or the fields of JSON Lines objects;
    [] when there are none or the file cannot be read (the reader's error says why)."""
    suffix = Path(filename).suffix.lower()
    try:
        if suffix == ".xlsx":
            workbook = open_xlsx(data, filename)  # within the unpacked-size budget, else InputError
            try:
                for row in workbook.worksheets[0].iter_rows(max_col=config.MAX_XLSX_COLUMNS, values_only=True):
                    if any(v is not None and str(v).strip() for v in row):
                        return _names(row)
            finally:
                workbook.close()
            return []
        text = data.decode("utf-8-sig")
        if suffix in (".csv", ".tsv"):
            first = next((line for line in text.splitlines() if line.strip()), "")
            delimiter = "\t" if suffix == ".tsv" else max(",;\t|", key=first.count)
            return _names(next(csv.reader([first], delimiter=delimiter), []))
        if suffix == ".jsonl":
            keys: list[str] = []
            for line in text.splitlines()[:1000]:
                if line.strip():
                    obj = json.loads(line)
                    if isinstance(obj, dict):
                        keys.extend(str(k) for k in obj if str(k) not in keys)
            return keys
    except Exception:  # garbage: the reader's own message explains the problem
        return []
    return []


def _names(row: Any) -> list[str]:
    names = [str(v).strip() if v is not None and str(v).strip() else f"column {i + 1}" for i, v in enumerate(row)]
    while names and names[-1].startswith("column ") and row[len(names) - 1] in (None, ""):
        names.pop()
    return names


def batch_label(info: Any) -> str:
    return f"{clean(info.name, 60)} · {info.total:,} items · #{info.id}"


def batch_picker(where: Any = st, label_visibility: str = "visible") -> int | None:
    """A select box of the batches; choosing one opens it. Returns the open batch id."""
    from affiliation_curator.team import access

    store = resources.get_store()
    who = state.identity()
    batches = access.visible_batches(store, who)  # a curator: the batches shared with them
    current = state.current_batch_id()
    ids = [b.id for b in batches]
    if current is not None and current not in ids:
        if who is not None and not who.is_lead:  # a curator's URL naming a batch not theirs: say so, show nothing of it
            try:
                access.check_batch(store, who, current)
            except CuratorError as err:
                where.error(safe_md(str(err)), icon=":material/lock:")
        state.open_batch(None)
        current = None
    if not batches:
        return None
    labels = {b.id: batch_label(b) for b in batches}
    # Always seed it: a page switch drops the widget's own state (a new widget on each page).
    st.session_state["batch_picker"] = current

    def _changed() -> None:
        state.open_batch(st.session_state.get("batch_picker"))

    where.selectbox(
        "Batch",
        ids,
        format_func=lambda i: labels.get(i, f"#{i}"),
        key="batch_picker",
        on_change=_changed,
        placeholder="Choose a batch",
        label_visibility=label_visibility,
    )
    return current


def ensure_ranking(batch_id: int) -> Any:
    """Start (or resume, e.g. after a restart) ranking the batch's unranked items; returns the job or None."""
    store = resources.get_store()
    jobs = resources.get_jobs()
    job = jobs.get(batch_id)
    if job is not None and job.running:
        return job
    if store.count_unranked(batch_id) == 0:
        return job
    info = store.batch(batch_id)
    try:
        matcher = resources.get_matcher(info.registry_name or None)
    except CuratorError as err:
        st.error(safe_md(f"Cannot rank this batch: {err}"), icon=":material/error:")
        return None
    return jobs.start(store, matcher, batch_id)


def ranking_progress(batch_id: int) -> None:
    """A progress bar while the batch ranks (polled), an error if the job stopped."""
    job = ensure_ranking(batch_id)
    if job is not None and job.running:
        _live_progress(batch_id)
    else:
        _final_progress(batch_id)


def _render_progress(batch_id: int) -> bool:
    """Draw the bar; True while the job runs."""
    store = resources.get_store()
    job = resources.get_jobs().get(batch_id)
    info = store.batch(batch_id)
    if job is not None and job.progress().error:
        st.error(
            safe_md(f"Ranking stopped: {job.progress().error}. The items ranked so far can be reviewed."),
            icon=":material/error:",
        )
    running = job is not None and job.running
    if running or info.ranked < info.total:
        p = job.progress() if job else None
        rate = f" · {p.per_second:.1f} items/s" if p and p.done else ""
        st.progress(
            info.ranked / max(info.total, 1),
            text=f"Ranking: {info.ranked:,} of {info.total:,} items ranked{rate}",
        )
    return running


@st.fragment(run_every=POLL_SECONDS)
@guarded
def _live_progress(batch_id: int) -> None:
    if not _render_progress(batch_id):
        st.rerun()  # finished: redraw the page once without polling


def _final_progress(batch_id: int) -> None:
    _render_progress(batch_id)


def batches_overview() -> None:
    """All batches with their counts, and the open batch's ranking progress."""
    store = resources.get_store()
    batches = store.batches()
    st.subheader("Batches")
    if not batches:
        st.caption("No batches yet: paste or upload affiliations above.")
        return
    current = batch_picker()
    st.dataframe(
        [
            {
                "batch": b.name,
                "id": b.id,
                "created": b.created_at.strftime("%Y-%m-%d %H:%M"),
                "items": b.total,
                "ranked": b.ranked,
                "accepted": b.by_action.get("accept", 0),
                "none": b.by_action.get("none", 0),
                "skipped": b.skipped,
                "undecided": b.undecided,
                "registry": b.registry_name,
                "model": b.model_id,
            }
            for b in batches
        ],
        hide_index=True,
        key="batches_table",
    )
    if current is not None:
        ranking_progress(current)
        st.page_link("app_pages/review.py", label="Review this batch", icon=":material/fact_check:", query_params={"batch": str(current)})
