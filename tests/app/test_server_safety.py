"""Production settings: no error details in the browser (an id instead, the details in the server log),
the server bound to this machine, Streamlit's request protections on, per-purpose upload caps."""

from __future__ import annotations

import logging
import tomllib

import pytest

from fixtures.apptest import PROJECT_DIR
from affiliation_curator import config


def streamlit_config() -> dict:
    return tomllib.loads((PROJECT_DIR / ".streamlit" / "config.toml").read_text(encoding="utf-8"))


def test_config_is_safe_for_a_shared_server() -> None:
    cfg = streamlit_config()
    assert cfg["client"]["showErrorDetails"] == "none"
    assert cfg["server"]["address"] == "127.0.0.1"
    assert cfg["server"]["enableXsrfProtection"] is True and cfg["server"]["enableCORS"] is True
    assert cfg["server"]["enableAgentApi"] is False and cfg["server"]["enableStaticServing"] is False
    assert set(cfg["server"]["allowedHosts"]) == {"localhost", "127.0.0.1"}
    # the server-wide cap is the largest per-purpose cap, the registry upload; affiliations are smaller
    assert cfg["server"]["maxUploadSize"] == config.MAX_REGISTRY_UPLOAD_MB
    assert config.MAX_UPLOAD_MB < config.MAX_REGISTRY_UPLOAD_MB


def test_an_unexpected_error_shows_an_id_and_logs_the_details(
    navigation_apptest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    from affiliation_curator.curation.store import Store

    secret = "INSERT INTO batches (name) VALUES ('x') /srv/secret/path password=hunter2"

    def broken(self, *args, **kwargs):  # noqa: ANN001
        raise RuntimeError(secret)

    monkeypatch.setattr(Store, "batches", broken)
    at = navigation_apptest()
    with caplog.at_level(logging.ERROR, logger="affiliation_curator"):
        at.run()
    assert not at.exception, "the error is handled, not passed to Streamlit"
    shown = " ".join(str(e.value) for e in at.error)
    assert "error id" in shown and secret not in shown and "RuntimeError" not in shown
    error_id = shown.split("error id ")[1].split(")")[0]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and secret in logged[0].getMessage() and logged[0].exc_info is not None
