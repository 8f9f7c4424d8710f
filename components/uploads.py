"""Affiliation uploads on the Match page: parsed once per file (by content hash), memory given back after.

A Streamlit page reruns on every click; an upload that is parsed again on each rerun costs its
full parse every time (a bomb workbook, 28 s and 300 MB a rerun). Here the result of one
(content, file name, column) is kept in the session (only the latest file), so reruns cost a
hash of the bytes.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import logging
from dataclasses import dataclass, field

import streamlit as st

from affiliation_curator.errors import ColumnChoiceNeeded, CuratorError
from affiliation_curator.curation.intake import IntakeResult, read_affiliations
from components import batch_panel

_KEY = "_upload_parsed"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParsedUpload:
    """What the page shows for an upload: the intake or the reader's message, and the columns to choose from."""

    intake: IntakeResult | None
    error: str = ""
    columns: list[str] = field(default_factory=list)
    question: bool = False  # the error only asks which column to read


def parse_upload(data: bytes, filename: str, column: str | None) -> ParsedUpload:
    """The parsed upload, from the session's cache when the same bytes were parsed with the same column."""
    key = (hashlib.sha256(data).hexdigest(), filename, column or "")
    cached = st.session_state.get(_KEY)
    if cached is not None and cached[0] == key:
        return cached[1]
    st.session_state.pop(_KEY, None)  # only the latest file is kept
    try:
        intake = read_affiliations(data, filename, column=column)
    except CuratorError as err:
        parsed = ParsedUpload(None, str(err), batch_panel.columns_of(data, filename),
                              question=isinstance(err, ColumnChoiceNeeded))
    else:
        parsed = ParsedUpload(intake, "", list(intake.columns))
    st.session_state[_KEY] = (key, parsed)
    release_memory()
    return parsed


def forget(uploaded: object) -> None:
    """Drop an upload that has been used up from Streamlit's in-memory store, and trim.

    Streamlit keeps every uploaded file of a session in memory until the browser removes it or
    the session is shut down, and a closed tab's session is kept for reconnection; a
    100 MB registry file would stay in the server long after it was imported.
    """
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        file_id = getattr(uploaded, "file_id", None)
        if ctx is not None and ctx.uploaded_file_mgr is not None and file_id:
            ctx.uploaded_file_mgr.remove_file(ctx.session_id, file_id)
    except Exception:  # noqa: BLE001 - an internal API: without it the file merely stays until the session ends
        log.warning("could not drop an used-up upload from memory", exc_info=True)
    release_memory()


def release_memory() -> None:
    """Give the parser's freed memory back to the operating system (glibc keeps it otherwise)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass
