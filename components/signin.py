"""Sign-in: who is using this browser session, when the settings turn sign-in on.

Modes (``affiliation_curator.team.users.sign_in_mode``): ``off`` (a one-person tool: the name
box in the sidebar), ``users`` (the app's own user list: name and password, checked against
salted Argon2 hashes in the store), ``oidc`` (an OpenID Connect provider through Streamlit's
``st.login``; ``.streamlit/secrets.toml`` holds the ``[auth]`` block, see the README). A
signed-out visitor gets the sign-in page and nothing else: app.py builds no other page.
"""

from __future__ import annotations

import os

import streamlit as st

from affiliation_curator.errors import CuratorError
from affiliation_curator.team import users as team_users
from components import resources, state
from components.text import safe_md


def current(mode: str):  # noqa: ANN201 - Identity | None
    """The signed-in identity of this session (checked against the user list on every run)."""
    store = resources.get_store()
    if mode == "oidc":
        if not st.user.is_logged_in:
            st.session_state.pop(state.IDENTITY_KEY, None)
            return None
        try:
            who = team_users.oidc_identity(store, st.user.get("email"), st.user.get("name"))
        except CuratorError as err:
            st.session_state["signin_error"] = str(err)
            st.session_state.pop(state.IDENTITY_KEY, None)
            return None
        st.session_state[state.IDENTITY_KEY] = who
        return who
    who = st.session_state.get(state.IDENTITY_KEY)
    if who is None:
        return None
    try:  # a user disabled or re-roled meanwhile: the next run of their session knows
        info = team_users.user(store, who.name)
    except CuratorError:
        info = None
    if info is None or info.disabled:
        st.session_state.pop(state.IDENTITY_KEY, None)
        st.session_state["signin_error"] = f"{who.name} can no longer sign in; ask a lead"
        return None
    if info.role != who.role:
        who = team_users.Identity(info.name, info.role)
        st.session_state[state.IDENTITY_KEY] = who
    return who


def _sign_in(mode: str) -> None:
    name = st.session_state.get("signin_name", "")
    password = st.session_state.get("signin_password", "")
    try:
        who = team_users.authenticate(resources.get_store(), name, password, source=_browser_session())
    except CuratorError as err:
        st.session_state["signin_error"] = str(err)
        return
    st.session_state.pop("signin_error", None)
    st.session_state.pop("signin_password", None)
    st.session_state[state.IDENTITY_KEY] = who


def _browser_session() -> str | None:
    """This browser session's id: failed sign-ins from it are counted (``team.signin_limit``)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return f"session:{ctx.session_id}" if ctx is not None else None


def sign_in_page() -> None:
    """The only page a signed-out visitor reaches."""
    from affiliation_curator.team.users import sign_in_mode

    mode = sign_in_mode()
    st.header("Sign in", anchor=False)
    error = st.session_state.pop("signin_error", None)
    if error:
        st.error(safe_md(error), icon=":material/lock:")
    if mode == "oidc":
        st.write("Sign in with your organisation's account.")
        if st.user.is_logged_in:
            st.button("Sign out", on_click=st.logout)
        elif not _auth_configured():
            st.error("Sign-in through OpenID Connect is on, but .streamlit/secrets.toml has no [auth] block: "
                     "whoever runs the server sets it up (README, Team curation).", icon=":material/lock:")
        else:
            # [auth] with the provider's keys: st.login(); a named [auth.NAME] block: set AFFILIATION_CURATOR_OIDC_PROVIDER
            provider = os.environ.get("AFFILIATION_CURATOR_OIDC_PROVIDER") or None
            st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login,
                      args=(provider,) if provider else ())
        return
    with st.form("signin", enter_to_submit=True):
        st.text_input("Name", key="signin_name", max_chars=80)
        st.text_input("Password", key="signin_password", type="password", max_chars=200)
        st.form_submit_button("Sign in", type="primary", on_click=_sign_in, args=(mode,))


def _auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets.toml at all
        return False


def sign_out() -> None:
    st.session_state.pop(state.IDENTITY_KEY, None)
    for key in list(st.session_state.keys()):
        if str(key).startswith(("review_", "bulk_")):
            del st.session_state[key]


def identity_sidebar(mode: str, who) -> None:  # noqa: ANN001
    """Who is signed in, and a way out."""
    st.sidebar.markdown(f"Signed in as **{safe_md(who.name, 80)}** ({who.role})")
    if mode == "oidc":
        st.sidebar.button("Sign out", key="signout", on_click=_oidc_sign_out)
    else:
        st.sidebar.button("Sign out", key="signout", on_click=sign_out)


def _oidc_sign_out() -> None:
    sign_out()
    st.logout()
