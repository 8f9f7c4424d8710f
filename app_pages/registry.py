"""Registry page: the active registry and its counts, importing a dump or CSV, switching, finding records."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import streamlit as st

from affiliation_curator import config
from affiliation_curator.errors import CuratorError
from affiliation_curator.registry import DEMO_NOTICE, NAME_RULE, RegistryCatalog
from components import registry_view, resources
from components.ror_releases import releases_panel
from components.uploads import forget as forget_upload
from components.text import clean, safe_md

UPLOAD_TYPES = ["zip", "json", "gz", "csv"]
# A full ROR dump zip is ~50 MB; larger files go through the CLI (config.MAX_REGISTRY_FILE_BYTES).
UPLOAD_LIMIT_MB = config.MAX_REGISTRY_UPLOAD_MB
FORMATS = {"ror-json": "ROR JSON", "ror-csv": "ROR CSV", "csv": "own CSV"}


st.title("Registry")
st.caption(
    "The institutions affiliations are matched against: the built-in demo registry, a ROR data dump, "
    "or a CSV of your own institutions."
)


def _catalog() -> RegistryCatalog:
    return RegistryCatalog()


def _switch() -> None:
    choice = st.session_state.get("registry_switch_names", {}).get(st.session_state.get("registry_switch"))
    if choice:
        try:
            _catalog().use(choice)
            st.session_state["registry_notice"] = f"Now using registry {choice}."
        except CuratorError as err:
            st.session_state["registry_error"] = str(err)


def _import(uploaded, name: str) -> None:
    """Save the upload to a private temp folder under its own name (the dump version is in it) and import it."""
    uploads = config.home() / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=uploads))
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(uploaded.name).name).lstrip(".") or "upload"
    path = folder / safe_name
    bar = st.progress(0.0, text="Importing…")
    try:
        uploaded.seek(0)
        with path.open("wb") as out:  # copied in chunks: no second in-memory copy of the upload
            shutil.copyfileobj(uploaded, out, 1024 * 1024)
        meta = _catalog().import_file(
            path,
            name=name.strip() or None,
            progress=lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=clean(message, 120)),
            source_name=uploaded.name,
        )
    except CuratorError as err:
        bar.empty()
        st.session_state["registry_error"] = f"Import failed: {err}. The active registry is unchanged."
        return
    except OSError as err:
        bar.empty()
        st.session_state["registry_error"] = f"Import failed: {err.strerror or err}. The active registry is unchanged."
        return
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    notice = f"Imported {meta.count:,} institutions as registry {meta.name}; it is now active."
    if meta.warnings:
        notice += " Notes: " + "; ".join(meta.warnings)
    st.session_state["registry_notice"] = notice
    st.session_state["registry_upload_round"] = st.session_state.get("registry_upload_round", 0) + 1
    st.session_state["registry_clear_name"] = True  # the next import is not named after this one
    forget_upload(uploaded)  # imported: the server need not keep the file's bytes in memory
    st.rerun()


catalog = _catalog()
try:
    active_meta = catalog.active_meta()
except CuratorError as err:
    st.error(safe_md(str(err)))
    active_meta = None

if notice := st.session_state.pop("registry_notice", None):
    st.success(safe_md(notice, 2000))
if error := st.session_state.pop("registry_error", None):
    st.error(safe_md(error, 2000))

if active_meta is not None:
    st.subheader(f"Active registry: {safe_md(active_meta.name)}")
    if active_meta.is_demo:
        st.info(safe_md(DEMO_NOTICE))
    facts = {
        "Version": active_meta.version or "—",
        "Format": FORMATS.get(active_meta.source_format, active_meta.source_format or "—"),
        "Imported": active_meta.imported_at[:16].replace("T", " ") + " UTC",
        "Source": active_meta.source,
    }
    st.markdown(" · ".join(f"**{label}:** {safe_md(value, 300)}" for label, value in facts.items()))
    if active_meta.warnings:
        with st.expander(f"Import notes ({len(active_meta.warnings)})"):
            st.text("\n".join(clean(w, 500) for w in active_meta.warnings))
    registry_view.registry_counts(active_meta.stats or {"count": active_meta.count})

metas = catalog.list()
st.divider()
switch_col, import_col = st.columns(2)
with switch_col:
    st.subheader("Switch registry")
    if metas:
        # Options are the shown labels themselves (plain text); the callback maps them back to names.
        labels = {clean(f"{m.name} — {m.version or 'no version'} ({m.count:,} institutions)"): m.name for m in metas}
        st.session_state["registry_switch_names"] = labels
        active_label = next((label for label, n in labels.items() if active_meta and n == active_meta.name), None)
        if active_label is not None:
            st.session_state["registry_switch"] = active_label
        st.selectbox("Registry in use", list(labels), key="registry_switch", on_change=_switch)
    else:
        st.write("No registry is imported yet.")

with import_col:
    st.subheader("Import a registry")
    uploaded = st.file_uploader(
        "ROR data dump (.zip, .json, .json.gz) or CSV (id, name, aliases, acronyms, city, country)",
        type=UPLOAD_TYPES,
        max_upload_size=UPLOAD_LIMIT_MB,
        key=f"registry_upload_{st.session_state.get('registry_upload_round', 0)}",
        help="An official ROR dump zip (vX.Y-YYYY-MM-DD-ror-data.zip), a JSON array of ROR records, "
        "or a CSV of your own institutions: id and name required; aliases and acronyms separated by ; or |",
    )
    if st.session_state.pop("registry_clear_name", False):
        st.session_state["registry_import_name"] = ""  # set before the field is drawn, as Streamlit requires
    name = st.text_input("Registry name (optional)", key="registry_import_name", help=NAME_RULE)
    if st.button("Import", type="primary", disabled=uploaded is None, key="registry_import_button"):
        _import(uploaded, name)
        if error := st.session_state.pop("registry_error", None):
            st.error(safe_md(error, 2000))

st.divider()
releases_panel()
if error := st.session_state.pop("registry_error", None):
    st.error(safe_md(error, 2000))

st.divider()
st.subheader("Find an institution")
query = st.text_input("Name, acronym or ROR ID", key="registry_query", placeholder="e.g. Technical University of Munich, TUM, 02kkvpp62")
if query.strip() and active_meta is not None:
    try:
        registry = resources.get_registry(active_meta.name)
    except CuratorError as err:
        st.error(safe_md(str(err)))
        st.stop()
    results = registry.find(query, limit=20)
    if not results:
        st.info(safe_md(f"Nothing found for “{query.strip()}” in {registry.name}."))
    else:
        labels = {registry_view.result_label(inst): inst.id for inst in results}
        chosen = st.selectbox(
            f"{len(results)} result{'s' if len(results) != 1 else ''}", list(labels), key="registry_result"
        )
        inst = registry.get(labels[chosen]) if chosen in labels else None
        if inst is not None:
            registry_view.institution_record(registry, inst)
