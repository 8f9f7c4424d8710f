"""Affiliation Curator: ``streamlit run app.py``. Page set-up, navigation and the sidebar; nothing else."""

from pathlib import Path

import streamlit as st

from affiliation_curator import config
from affiliation_curator.errors import CuratorError
from components import state
from components.errors import show_unexpected
from components.text import safe_md

HERE = Path(__file__).resolve().parent
# a local icon: a material-symbol favicon would be fetched from fonts.gstatic.com by every browser
st.set_page_config(page_title="Affiliation Curator", page_icon=HERE / "components" / "favicon.png", layout="wide")

try:  # every decision is kept in the data directory: say so plainly when it cannot be written
    config.check_home_writable()
except CuratorError as err:
    st.error(safe_md(str(err), 2000), icon=":material/folder_off:")
    st.stop()

# (file, title, icon, section); the first page is the default.
PAGES = [
    ("app_pages/match.py", "Match", ":material/upload_file:", "Curate"),
    ("app_pages/review.py", "Review", ":material/fact_check:", "Curate"),
    ("app_pages/export.py", "Export", ":material/download:", "Curate"),
    ("app_pages/registry.py", "Registry", ":material/account_balance:", "Data"),
    ("app_pages/train.py", "Train", ":material/model_training:", "Model"),
    ("app_pages/evaluate.py", "Evaluate", ":material/analytics:", "Model"),
]

sections: dict[str, list[st.Page]] = {}
for index, (path, title, icon, section) in enumerate(PAGES):
    sections.setdefault(section, []).append(st.Page(HERE / path, title=title, icon=icon, default=index == 0))

page = st.navigation(sections)
state.curator_sidebar()
state.context_sidebar()
try:
    page.run()
except Exception as err:  # noqa: BLE001 - shown by id only; st.stop/st.rerun are BaseExceptions
    show_unexpected(err, f"page {page.title}")

