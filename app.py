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

# (file, title, icon, section, who may see it); a role's first page is its default.
LEAD, ANYONE = ("lead",), ("curator", "lead")
PAGES = [
    ("app_pages/match.py", "Match", ":material/upload_file:", "Curate", LEAD),
    ("app_pages/review.py", "Review", ":material/fact_check:", "Curate", ANYONE),
    ("app_pages/export.py", "Export", ":material/download:", "Curate", LEAD),  # exports carry every curator's labels
    ("app_pages/team.py", "Team", ":material/groups:", "Curate", LEAD),
    ("app_pages/registry.py", "Registry", ":material/account_balance:", "Data", LEAD),
    ("app_pages/train.py", "Train", ":material/model_training:", "Model", LEAD),
    ("app_pages/evaluate.py", "Evaluate", ":material/analytics:", "Model", LEAD),  # it reads every curator's labels
]

try:  # sign-in (off by default: a one-person tool); a signed-out visitor reaches the sign-in page only
    from affiliation_curator.team.users import sign_in_mode
    from components import signin

    mode = sign_in_mode()
    who = signin.current(mode) if mode != "off" else None
except CuratorError as err:
    st.error(safe_md(str(err), 2000), icon=":material/lock:")
    st.stop()
if mode != "off" and who is None:
    # every page's address shows the sign-in (a deep link lands there, then on its page once signed in)
    gate = [st.Page(signin.sign_in_page, title="Sign in", icon=":material/login:", url_path="sign-in", default=True)]
    gate += [st.Page(signin.sign_in_page, title="Sign in", url_path=Path(p[0]).stem) for p in PAGES]
    st.navigation(gate, position="hidden").run()
    st.stop()
role = who.role if who is not None else "lead"  # sign-in off: the one user may do everything

sections: dict[str, list[st.Page]] = {}
allowed = [p for p in PAGES if role in p[4]]
for index, (path, title, icon, section, _roles) in enumerate(allowed):
    sections.setdefault(section, []).append(st.Page(HERE / path, title=title, icon=icon, default=index == 0))

page = st.navigation(sections)
if who is None:
    state.curator_sidebar()
else:
    signin.identity_sidebar(mode, who)
state.context_sidebar()
try:
    page.run()
except Exception as err:  # noqa: BLE001 - shown by id only; st.stop/st.rerun are BaseExceptions
    show_unexpected(err, f"page {page.title}")

