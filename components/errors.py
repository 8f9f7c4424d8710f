"""Unexpected errors on a page: logged on the server with an id, only the id shown in the browser.

``.streamlit/config.toml`` sets ``client.showErrorDetails = "none"``, so whatever escapes these
guards (a widget callback, say) reaches the browser as Streamlit's redacted notice; the server
logs it too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from affiliation_curator.errors import log_unexpected

F = TypeVar("F", bound=Callable[..., Any])


def show_unexpected(err: Exception, where: str = "") -> str:
    """Log ``err`` with an id on the server and show the id (nothing of the error) on the page."""
    error_id = log_unexpected(err, where)
    st.error(
        f"Something went wrong on the server (error id {error_id}). Nothing saved is lost; reload the "
        "page to go on. Whoever runs the server finds the details in its log under this id.",
        icon=":material/error:",
    )
    return error_id


def guarded(func: F) -> F:
    """Run ``func`` (a page part or a fragment); an unexpected error is shown by id only.

    Streamlit's own control flow (``st.rerun``, ``st.stop``) derives from BaseException and
    passes through untouched.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - the page's last line of defence
            show_unexpected(err, getattr(func, "__qualname__", ""))
            return None

    return wrapper  # type: ignore[return-value]
