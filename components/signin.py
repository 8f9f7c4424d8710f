"""Sign-in: who is using this browser session, when the settings turn sign-in on.

Modes (``affiliation_curator.team.users.sign_in_mode``): ``off`` (a one-person tool: the name
box in the sidebar), ``users`` (the app's own user list: name and password, checked against
salted Argon2 hashes in the store), ``oidc`` (an OpenID Connect provider through Streamlit's
``st.login``; ``.streamlit/secrets.toml`` holds the ``[auth]`` block, see the README). A
signed-out visitor gets the sign-in page and nothing else: app.py builds no other page.

With ``users``, a sign-in is a session in the store (``team.sessions``) whose random token the
browser keeps in the ``curator_session`` cookie, so a reload or a new tab stays signed in; the
cookie is written by a tiny script (Streamlit cannot set cookies) that holds nothing but the
token's ``[A-Za-z0-9_-]`` characters. Every run checks the session, so sign-out in one tab, or
a lead disabling the user, ends every tab's sign-in on its next run.
"""

from __future__ import annotations

import os
import time

import streamlit as st

from affiliation_curator.errors import CuratorError
from affiliation_curator.team import sessions
from affiliation_curator.team import users as team_users
from components import resources, state
from components.text import safe_md

COOKIE = "curator_session"
TOKEN_KEY = "signin_token"  # this browser session's store session token (mode users)
COOKIE_CHECKED_KEY = "signin_cookie_checked"  # the cookie the browser connected with was looked at
COOKIE_WRITE_KEY = "signin_cookie_write"  # a cookie script to render: the token to keep, or "" to clear
COOKIE_WRITTEN_KEY = "signin_cookie_written_at"  # when this session last wrote the cookie (time.time())
COOKIE_REFRESH_SECONDS = 1800  # a tab in use writes it again this often: its lifetime slides as the session's does


def current(mode: str):  # noqa: ANN201 - Identity | None
    """The signed-in identity of this session (checked against the store on every run)."""
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
    sessions.session_hours()  # a garbage AFFILIATION_CURATOR_SESSION_HOURS: a clear error for everyone, at once
    who = st.session_state.get(state.IDENTITY_KEY)
    token = st.session_state.get(TOKEN_KEY)
    if who is None:
        return _from_cookie(store)
    if token is None:  # signed in without a store session (none is started without one): the user list decides
        return _checked(store, who)
    fresh = sessions.lookup(store, token)
    if fresh is None:  # ended elsewhere (sign-out in another tab, expiry) or the user disabled
        _forget(store, who)
        return None
    if fresh != who:
        st.session_state[state.IDENTITY_KEY] = fresh
    if time.time() - st.session_state.get(COOKIE_WRITTEN_KEY, 0.0) > COOKIE_REFRESH_SECONDS:
        st.session_state[COOKIE_WRITE_KEY] = token
    return fresh


def _from_cookie(store):  # noqa: ANN001, ANN202 - Identity | None
    """A reload or a new tab: the cookie's session signs the visitor in without the form (once per
    browser session: the cookies Streamlit reports are those the browser connected with)."""
    if st.session_state.get(COOKIE_CHECKED_KEY):
        return None
    st.session_state[COOKIE_CHECKED_KEY] = True
    cookie = _cookie()
    if not cookie:
        return None
    who = sessions.lookup(store, cookie)
    if who is None:  # stale, ended or garbage: the sign-in page says why (when it named a session) and clears it
        st.session_state[COOKIE_WRITE_KEY] = ""
        reason = sessions.ended_reason(store, cookie)
        if reason:
            st.session_state["signin_error"] = reason
        return None
    st.session_state[TOKEN_KEY] = cookie
    st.session_state[state.IDENTITY_KEY] = who
    st.session_state[COOKIE_WRITE_KEY] = cookie  # written again: its lifetime starts anew
    return who


def _cookie() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser connection (a bare script run)
        return None
    return value if isinstance(value, str) else None


def _forget(store, who) -> None:  # noqa: ANN001
    """This session's sign-in has ended: say why on the sign-in page, and clear the cookie."""
    st.session_state.pop(state.IDENTITY_KEY, None)
    st.session_state.pop(TOKEN_KEY, None)
    st.session_state[COOKIE_WRITE_KEY] = ""
    try:
        info = team_users.user(store, who.name)
    except CuratorError:
        info = None
    if info is None or info.disabled:
        st.session_state["signin_error"] = f"{who.name} can no longer sign in; ask a lead"
    else:
        st.session_state["signin_error"] = "Your sign-in has ended (signed out in another tab, or unused too long); sign in again"


def _checked(store, who):  # noqa: ANN001, ANN202 - Identity | None
    try:  # a user disabled or re-roled meanwhile: the next run of their session knows
        info = team_users.user(store, who.name)
    except CuratorError:
        info = None
    if info is None or info.disabled:
        _forget(store, who)
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
    try:
        token = sessions.start(resources.get_store(), who)
    except CuratorError as err:  # e.g. a garbage AFFILIATION_CURATOR_SESSION_HOURS
        st.session_state["signin_error"] = str(err)
        return
    st.session_state.pop("signin_error", None)
    st.session_state.pop("signin_password", None)
    st.session_state[state.IDENTITY_KEY] = who
    st.session_state[TOKEN_KEY] = token
    st.session_state[COOKIE_WRITE_KEY] = token


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
    _write_cookie()
    with st.form("signin", enter_to_submit=True):
        st.text_input("Name", key="signin_name", max_chars=80)
        st.text_input("Password", key="signin_password", type="password", max_chars=200)
        st.form_submit_button("Sign in", type="primary", on_click=_sign_in, args=(mode,))


def _auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets.toml at all
        return False


def _write_cookie() -> None:
    """Render the pending cookie script, if any: keep the token for the session's hours, or clear
    the cookie (Max-Age=0). Only a token's own characters ever go into the script."""
    token = st.session_state.pop(COOKIE_WRITE_KEY, None)
    if token is None:
        return
    if token and not sessions.is_token(token):
        raise CuratorError("a sign-in token with unexpected characters was not written")
    max_age = int(sessions.session_hours() * 3600) if token else 0
    st.session_state[COOKIE_WRITTEN_KEY] = time.time() if token else 0.0
    st.html(
        "<script>(function(){var secure = location.protocol === 'https:' ? '; Secure' : '';"
        f"document.cookie = '{COOKIE}={token}; Path=/; SameSite=Strict; Max-Age={max_age}' + secure;"
        "})();</script>",
        unsafe_allow_javascript=True,
    )


def sign_out() -> None:
    """End this browser's sign-in: its store session (every tab of it) and the cookie."""
    token = st.session_state.pop(TOKEN_KEY, None)
    if token is not None:
        try:
            sessions.end(resources.get_store(), token)
        except CuratorError as err:  # the store unreachable: say so; the cookie is cleared anyway
            st.session_state["signin_error"] = str(err)
        st.session_state[COOKIE_WRITE_KEY] = ""
    st.session_state[COOKIE_CHECKED_KEY] = True  # the cookie the browser connected with signs nobody in again
    st.session_state.pop(state.IDENTITY_KEY, None)
    for key in list(st.session_state.keys()):
        if str(key).startswith(("review_", "bulk_")):
            del st.session_state[key]


def identity_sidebar(mode: str, who) -> None:  # noqa: ANN001
    """Who is signed in, and a way out."""
    st.sidebar.markdown(f"Signed in as **{safe_md(who.name, 80)}** ({who.role})")
    if mode == "users":
        with st.sidebar:
            _write_cookie()
    if mode == "oidc":
        st.sidebar.button("Sign out", key="signout", on_click=_oidc_sign_out)
    else:
        st.sidebar.button("Sign out", key="signout", on_click=sign_out)


def _oidc_sign_out() -> None:
    sign_out()
    st.logout()
