"""Match page: bring affiliations in (paste or upload) as a named batch and rank them in the background."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from affiliation_curator import config
from affiliation_curator.errors import CuratorError
from affiliation_curator.curation.intake import SUPPORTED_SUFFIXES, parse_paste
from components import batch_panel, resources, state, uploads
from components.text import safe_md


UPLOAD_TYPES = [s.lstrip(".") for s in SUPPORTED_SUFFIXES]
UPLOAD_LIMIT_BYTES = config.MAX_UPLOAD_MB * 1024 * 1024

st.title("Match")
st.caption(
    "Paste affiliations (one a line) or upload a file; each import becomes a named batch. "
    "Ranking starts at once in the background: the first items are ready to review within seconds."
)


def _default_name() -> str:
    return f"Batch {datetime.now():%Y-%m-%d %H:%M}"


def _create_batch(intake, source: str) -> bool:
    """Store the batch, open it, start ranking; the summary stays on the page until the next import."""
    _clear_notices()
    name = (st.session_state.get("batch_name") or "").strip() or _default_name()
    try:
        matcher = resources.get_matcher()
        registry = matcher.registry
        model_id, fallback = resources.scorer_note(matcher)
        store = resources.get_store()
        batch_id = store.create_batch(
            name, intake, registry_name=registry.name, registry_version=registry.meta.version,
            model_id=model_id, source=source,
        )
        resources.get_jobs().start(store, matcher, batch_id)
    except CuratorError as err:
        st.session_state["match_error"] = f"The batch was not created: {err}"
        return False
    state.open_batch(batch_id)
    created = store.batch(batch_id)
    st.session_state["match_notice"] = {
        "batch_id": batch_id,
        "name": created.name,
        "messages": list(intake.messages),
        "model": model_id,
        "registry": f"{registry.name} ({registry.meta.version})",
        "fallback": fallback,
    }
    st.session_state["batch_name"] = ""
    return True


def _clear_notices() -> None:
    st.session_state.pop("match_notice", None)
    st.session_state.pop("match_error", None)


def _import_paste() -> None:
    _clear_notices()
    try:
        intake = parse_paste(st.session_state.get("paste_text") or "")
    except CuratorError as err:
        st.session_state["match_error"] = str(err)
        return
    if _create_batch(intake, source="paste"):
        st.session_state["paste_text"] = ""


# ------------------------------------------------------------------ notices from the last action

notice = st.session_state.get("match_notice")
if notice:
    st.success(f"Batch “{safe_md(notice['name'])}” created and ranking.", icon=":material/check_circle:")
    for message in notice["messages"]:
        st.text(message)
    st.caption(safe_md(f"Ranking with {notice['model']} on registry {notice['registry']}."))
    if notice["fallback"]:
        st.warning(safe_md(f"The configured reranker is not available, so {notice['model']} stands in: "
                           f"{notice['fallback']}"), icon=":material/warning:")
error = st.session_state.get("match_error")
if error:
    st.error(safe_md(error), icon=":material/error:")

st.text_input("Batch name", key="batch_name", placeholder=_default_name(), max_chars=180)

paste_tab, upload_tab = st.tabs(["Paste", "Upload a file"])

with paste_tab:
    st.text_area(
        "Affiliations, one a line",
        key="paste_text",
        height=220,
        placeholder="Dept. of Surgery, TU Munich, Germany\nInstitut Pasteur, Paris, France",
    )
    st.button("Import and rank", key="import_paste", type="primary", icon=":material/play_arrow:", on_click=_import_paste)

with upload_tab:
    st.caption(
        f"Files: {', '.join('.' + t for t in UPLOAD_TYPES)}; at most {config.MAX_UPLOAD_MB} MB and "
        f"{config.MAX_BATCH_ROWS:,} different affiliations; strings longer than "
        f"{config.MAX_AFFILIATION_CHARS:,} characters are cut. Tables: the first row is the header."
    )
    upload = st.file_uploader(
        "Affiliation file", type=UPLOAD_TYPES, key="upload", max_upload_size=config.MAX_UPLOAD_MB
    )
    if upload is not None and st.session_state.get("upload_file_id") != upload.file_id:
        st.session_state["upload_file_id"] = upload.file_id  # a new file: forget the old column choice
        st.session_state.pop("upload_column", None)
    if upload is not None:
        data = upload.getvalue()
        filename = upload.name
        if len(data) > UPLOAD_LIMIT_BYTES:
            st.error(
                safe_md(f"{filename} is {len(data) / 1024 / 1024:.1f} MB; uploads are limited to "
                        f"{config.MAX_UPLOAD_MB} MB. Split the file or import it with the command line."),
                icon=":material/error:",
            )
        else:
            chosen = st.session_state.get("upload_column") or None
            parsed = uploads.parse_upload(data, filename, chosen)  # once per file and column, not every rerun
            intake, columns = parsed.intake, parsed.columns
            if parsed.error and parsed.question:  # a question (which column?), not an error
                st.info(safe_md(parsed.error), icon=":material/help:")
            elif parsed.error:
                st.error(safe_md(parsed.error), icon=":material/error:")
            if len(columns) > 1 or (columns and intake is None):
                current = chosen if chosen in columns else (intake.column if intake and intake.column in columns else None)
                st.selectbox(
                    "Column with the affiliations",
                    columns,
                    index=columns.index(current) if current in columns else None,
                    key="upload_column",
                    placeholder="Choose a column",
                )
            if intake is not None:
                for message in intake.messages:
                    st.text(message)
                st.dataframe(
                    {"affiliation": intake.strings[:10], "count": [intake.counts[s] for s in intake.strings[:10]]},
                    hide_index=True,
                )
                if len(intake.strings) > 10:
                    st.caption(f"first 10 of {len(intake.strings):,}")
                st.button(
                    "Import and rank", key="import_upload", type="primary", icon=":material/play_arrow:",
                    on_click=_create_batch, args=(intake, f"upload:{filename}"),
                )

st.divider()
batch_panel.batches_overview()
