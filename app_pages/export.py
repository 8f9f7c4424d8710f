"""Export page: labelled pairs for training and the affiliation -> ROR mapping, each with its dataset card."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from affiliation_curator.errors import CuratorError
from affiliation_curator.curation.export import ExportOptions, export_mapping, export_pairs
from affiliation_curator.curation.export_snapshot import StoreSnapshot
from affiliation_curator.curation.formats import WRITERS, read_records
from components import resources, state
from components.batch_panel import batch_label
from components.text import safe_md

FORMATS = {suffix: writer.label for suffix, writer in WRITERS.items()}
PREVIEW_ROWS = 20


st.title("Export")
st.caption(
    "Labelled pairs (columns query, document, label) in the seed reranker's training format, and the "
    "affiliation → ROR ID mapping. A dataset card (counts, label balance, sources, date) comes with each export."
)

store = resources.get_store()
batches = store.batches()
if not batches:
    st.info("Nothing to export yet: bring affiliations in on the Match page and decide them on the Review page.",
            icon=":material/info:")
    state.page_link("app_pages/match.py", label="Go to Match", icon=":material/upload_file:")
    st.stop()

# ------------------------------------------------------------------ which decisions

by_id = {b.id: b for b in batches}
open_batch = state.current_batch_id()
if "export_batches" not in st.session_state:
    st.session_state["export_batches"] = [open_batch] if open_batch in by_id else []
st.session_state["export_batches"] = [i for i in st.session_state["export_batches"] if i in by_id]

st.subheader("Which decisions", anchor=False)
left, right = st.columns(2)
chosen_ids = left.multiselect(
    "Batches", list(by_id), format_func=lambda i: batch_label(by_id[i]), key="export_batches",
    placeholder="All batches", help="Leave empty for every batch.",
)
curators_known = store.curators()
chosen_curators = right.multiselect(
    "Curators", curators_known, key="export_curators", placeholder="All curators",
    help="Only decisions made by these curators; empty for everyone.",
)
dates = left.date_input(
    "Decided between", value=(), key="export_dates", format="YYYY-MM-DD",
    help="A day range (both ends included); empty for any date.",
)
since: date | None = dates[0] if isinstance(dates, (tuple, list)) and len(dates) >= 1 else None
until: date | None = dates[1] if isinstance(dates, (tuple, list)) and len(dates) == 2 else None
chosen = [by_id[i] for i in chosen_ids] or sorted(batches, key=lambda b: b.id)
decided = sum(b.decided for b in chosen)
right.caption(f"{len(chosen)} batch(es), {decided:,} decided affiliations before the curator and date filters.")


@st.cache_resource(show_spinner="Reading the decisions…", max_entries=2, ttl=900)
def _snapshot(url: str, batch_ids: tuple[int, ...] | None, stamp: tuple) -> StoreSnapshot:
    """The chosen batches' decisions read once (shared by sessions) until the store changes (``stamp``)."""
    return StoreSnapshot(store, batch_ids)


def _built(kind: str, key: tuple, build: Any) -> Any:
    """What ``build()`` made for ``key``, kept in the session (the latest one of each kind) until the key changes."""
    kept = st.session_state.get(f"_export_built_{kind}")
    if kept is None or kept[0] != key:
        try:
            kept = (key, build(), None)
        except CuratorError as err:  # kept too: the same options give the same message without rebuilding
            kept = (key, None, err)
        st.session_state[f"_export_built_{kind}"] = kept
    if kept[2] is not None:
        raise kept[2]
    return kept[1]


snapshot_ids = tuple(sorted(b.id for b in chosen)) if chosen_ids else None
stamp = store.change_stamp(snapshot_ids)
snapshot = _snapshot(store.url, snapshot_ids, stamp)


def _registry() -> Any:
    """The registry of the chosen batches (documents of searched institutions, easy negatives)."""
    names = sorted({b.registry_name for b in chosen if b.registry_name})
    try:
        registry = resources.get_registry(names[0] if names else None)
    except CuratorError as err:
        st.warning(f"The registry of these batches is not available ({safe_md(err)}); easy negatives are off.")
        return None
    if len(names) > 1:
        st.caption(f"The batches come from several registries; registry {safe_md(registry.name)} supplies "
                   "easy negatives and missing documents.")
    return registry


def _options(**extra: Any) -> ExportOptions:
    return ExportOptions(
        batches=[b.id for b in chosen] if chosen_ids else None,
        curators=list(chosen_curators) or None,
        since=since,
        until=until,
        **extra,
    )


def _preview(name: str, data: bytes) -> pd.DataFrame | None:
    """The first rows of an export file, read back from its bytes (what the download holds)."""
    try:
        rows = [row for _, row in itertools.islice(read_records(data, name), PREVIEW_ROWS)]
    except CuratorError:
        return None
    return pd.DataFrame(rows) if rows else None


def _downloads(result: Any, stem: str, key: str, built_key: tuple) -> None:
    single = result.single
    col_file, col_card = st.columns(2)
    if single is not None:
        name, data = single
        col_file.download_button(
            f"Download {name}", data, file_name=name, mime=result.mime, key=f"{key}_file", type="primary",
            icon=":material/download:", on_click="ignore",
        )
    else:
        col_file.download_button(
            f"Download {stem}.zip ({', '.join(result.files)} and the card)", result.zip_bytes(),
            file_name=f"{stem}.zip", mime="application/zip", key=f"{key}_file", type="primary",
            icon=":material/download:", on_click="ignore",
        )
    col_card.download_button(
        f"Download the dataset card ({result.card_name})", result.card.encode("utf-8"), file_name=result.card_name,
        mime="text/markdown", key=f"{key}_card", icon=":material/description:", on_click="ignore",
    )
    previews = _built(f"{key}_previews", built_key, lambda: {n: _preview(n, d) for n, d in result.files.items()})
    for name, frame in previews.items():
        if frame is not None:
            st.caption(f"{safe_md(name)}: first {min(len(frame), PREVIEW_ROWS)} rows")
            st.dataframe(frame, hide_index=True, key=f"{key}_preview_{name}")
    with st.expander("Dataset card", expanded=False):
        st.code(result.card, language="markdown", wrap_lines=True)


def _stem(key: str, default: str) -> str:
    raw = (st.session_state.get(key) or "").strip()
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in raw).strip(".-")
    return safe or default


pairs_tab, mapping_tab = st.tabs(["Training pairs", "Mapping"])

# ------------------------------------------------------------------ pairs

with pairs_tab:
    c1, c2, c3 = st.columns(3)
    hard = c1.number_input(
        "Hard negatives per accepted affiliation", min_value=0, max_value=50, value=3, step=1, key="export_hard",
        help="Candidates that were shown but not accepted, best-ranked first.",
    )
    easy = c2.number_input(
        "Easy negatives per accepted affiliation", min_value=0, max_value=20, value=0, step=1, key="export_easy",
        help="Random institutions of the registry.",
    )
    share = c3.slider(
        "Validation share (%)", min_value=0, max_value=50, value=0, step=5, key="export_validation",
        help="0: one file. Otherwise a train and a validation file, split by affiliation string, so one "
             "affiliation is never in both.",
    )
    c1, c2, c3 = st.columns(3)
    dedupe = c1.checkbox("De-duplicate pairs", value=True, key="export_dedupe",
                         help="One row per (affiliation, institution); explicit decisions beat implied negatives.")
    fmt = c2.segmented_control("Format", list(FORMATS), format_func=FORMATS.get, default=".csv", key="export_format",
                               required=True)
    c3.text_input("File name", value="affiliation-pairs", key="export_stem", max_chars=80)
    stem = _stem("export_stem", "affiliation-pairs")
    registry = _registry()
    options = _options(hard_negatives=int(hard), easy_negatives=int(easy) if registry is not None else 0,
                       dedupe=dedupe, validation_share=share / 100)
    pairs_key = (stamp, snapshot_ids, repr(options), stem, fmt, getattr(registry, "name", None),
                 str(getattr(registry, "version_key", "")))
    try:
        result = _built("pairs", pairs_key, lambda: export_pairs(
            snapshot, f"{stem}{fmt or '.csv'}", options, registry=registry, write=False))
    except CuratorError as err:
        st.info(safe_md(err), icon=":material/info:")
    else:
        stats = result.stats
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Pairs", f"{stats['pairs']:,}")
        balance = 100 * stats["positives"] / max(stats["pairs"], 1)
        m2.metric("Positive (label 1)", f"{stats['positives']:,}", f"{balance:.0f} %", delta_color="off")
        m3.metric("Negative (label 0)", f"{stats['negatives']:,}")
        m4.metric("Affiliations", f"{stats['affiliations']:,}")
        origin = [{"origin": k, "pairs": v} for k, v in stats["by_kind"].items()]
        splits = [{"split": s, **stats[s]} for s in ("train", "validation") if s in stats]
        o1, o2 = st.columns(2)
        o1.dataframe(origin, hide_index=True, key="export_origin")
        o2.dataframe(splits, hide_index=True, key="export_splits")
        st.caption(f"Duplicates dropped: {stats['duplicates_dropped']:,}; conflicting labels resolved: "
                   f"{stats['conflicts_resolved']:,}.")
        for warning in result.warnings:
            st.warning(safe_md(warning), icon=":material/warning:")
        _downloads(result, stem, "pairs", pairs_key)

# ------------------------------------------------------------------ mapping

with mapping_tab:
    c1, c2, c3 = st.columns(3)
    map_fmt = c1.segmented_control("Format", list(FORMATS), format_func=FORMATS.get, default=".csv",
                                   key="mapping_format", required=True)
    undecided = c2.checkbox("Also list undecided affiliations", value=False, key="mapping_undecided")
    c3.text_input("File name", value="affiliation-mapping", key="mapping_stem", max_chars=80)
    map_stem = _stem("mapping_stem", "affiliation-mapping")
    map_options = _options(include_undecided=undecided)
    mapping_key = (stamp, snapshot_ids, repr(map_options), map_stem, map_fmt)
    try:
        mapping = _built("mapping", mapping_key, lambda: export_mapping(
            snapshot, f"{map_stem}{map_fmt or '.csv'}", map_options, write=False))
    except CuratorError as err:
        st.info(safe_md(err), icon=":material/info:")
    else:
        stats = mapping.stats
        m1, m2, m3 = st.columns(3)
        m1.metric("Rows", f"{stats['rows']:,}")
        m2.metric("Accepted", f"{stats['by_decision'].get('accept', 0):,}")
        m3.metric("None of these", f"{stats['by_decision'].get('none', 0):,}")
        st.caption("Columns: affiliation, ROR ID, institution name, decision, score, model, registry and version, "
                   "curator, time, batch.")
        _downloads(mapping, map_stem, "mapping", mapping_key)
