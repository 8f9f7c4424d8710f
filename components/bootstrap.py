"""Make sure a page runs inside app.py's navigation.

The pages live in ``pages/``; a fresh Streamlit server that first receives a deep link such
as ``/review?batch=3`` runs that file on its own in the old "pages directory" mode (no
sidebar, no curator name, not app.py's navigation) until some session runs app.py. Each page
calls ``require_navigation()`` first: in that mode it switches the server to app.py's
navigation and reruns, which lands on the same page (page ids follow the URL path).
"""

from __future__ import annotations

import streamlit as st


def require_navigation() -> None:
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what app.py's st.navigation sets
        st.rerun()
