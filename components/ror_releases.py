"""The Registry page's "ROR releases" panel: is there a newer release, and download it in one click.

The check runs in a background thread when asked (never while the page draws) and a fragment
polls it; the download runs in the click's script run with a progress bar (bytes, speed, time
left), like an upload's import. Both are the core calls of ``registry check`` and ``registry
download``.
"""

from __future__ import annotations

import threading
from typing import Any

import streamlit as st

from affiliation_curator.errors import CuratorError
from affiliation_curator.registry.download import (
    check_for_newer_release,
    download_registry,
    releases_url,
)
from components.text import clean, safe_md

CHECK_TIMEOUT_S = 10.0
POLL_SECONDS = 1.0


def _run_check(box: dict[str, Any], url: str) -> None:
    try:
        box["message"] = check_for_newer_release(url=url, timeout=CHECK_TIMEOUT_S).summary(cli=False)
    except CuratorError as err:
        box["error"] = str(err)
    except Exception as err:  # noqa: BLE001 - a thread must report, not die silently
        box["error"] = f"the check failed ({type(err).__name__}: {err})"
    finally:
        box["done"] = True


def _start_check() -> None:
    box: dict[str, Any] = {"done": False, "url": releases_url()}
    st.session_state["ror_release_check"] = box
    threading.Thread(target=_run_check, args=(box, box["url"]), daemon=True, name="ror-release-check").start()


def _download(version: str, name: str) -> None:
    bar = st.progress(0.0, text="Asking for the ROR releases…")
    try:
        meta, release = download_registry(
            version.strip() or None,
            name=name.strip() or None,
            progress=lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=clean(message, 160)),
        )
    except CuratorError as err:
        bar.empty()
        text = str(err)
        if "unchanged" not in text:
            text += ". The active registry is unchanged"
        st.session_state["registry_error"] = f"Download failed: {text}."
        return
    except OSError as err:
        bar.empty()
        where = f" ({err.filename})" if err.filename else ""
        st.session_state["registry_error"] = (
            f"Download failed: {err.strerror or err}{where}. The active registry is unchanged."
        )
        return
    st.session_state["registry_notice"] = (
        f"Downloaded ROR {release.version} ({release.published}), md5 verified, and imported "
        f"{meta.count:,} institutions as registry {meta.name}; it is now active."
    )
    for key in ("ror_release_check", "registry_download_version", "registry_download_name"):
        st.session_state.pop(key, None)  # the fields start empty again (ux-findings: a name kept after an import)
    st.rerun()


def _check_result() -> None:
    box = st.session_state.get("ror_release_check")
    if not box:
        return
    if not box.get("done"):
        st.caption(safe_md(f"Checking {box['url']} …", 500))
        return
    if "error" in box:
        st.warning(safe_md(f"Could not check for a newer release: {box['error']}", 2000))
    else:
        st.info(safe_md(box["message"], 2000))


def releases_panel() -> None:
    """Check for a newer ROR release; download the newest (or a named) one, import it and use it."""
    st.subheader("ROR releases")
    st.caption(
        "Official ROR data dumps from ROR's Zenodo community: checked only when you ask, "
        "verified against their md5 checksum before they are imported."
    )
    check_col, download_col = st.columns(2)
    with check_col:
        if st.button("Is there a newer ROR release?", key="registry_check_button"):
            _start_check()
        box = st.session_state.get("ror_release_check")
        pending = bool(box) and not box.get("done")

        @st.fragment(run_every=POLL_SECONDS if pending else None)
        def result() -> None:
            _check_result()
            box = st.session_state.get("ror_release_check")
            if pending and box and box.get("done"):
                st.rerun()  # stop polling

        result()
    with download_col:
        version = st.text_input(
            "Release (optional)", key="registry_download_version", placeholder="newest; or e.g. v2.9",
        )
        name = st.text_input("Registry name (optional)", key="registry_download_name", placeholder="ror-<version>")
        if st.button("Download, import and use", type="primary", key="registry_download_button"):
            _download(version, name)
