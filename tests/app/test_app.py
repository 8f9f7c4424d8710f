"""app.py (AppTest): navigation over every page, the sidebar curator, the open batch in the URL."""

from __future__ import annotations

from pathlib import Path

from fixtures.apptest import PROJECT_DIR
from affiliation_curator.config import Settings
from affiliation_curator.curation.store import Store


def _page_files() -> list[str]:
    import ast

    tree = ast.parse((PROJECT_DIR / "app.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGES":
            return [entry.elts[0].value for entry in node.value.elts]
    raise AssertionError("app.py has no PAGES list")


def test_every_page_runs(navigation_apptest):  # noqa: F811
    at = navigation_apptest().run()
    assert not at.exception
    assert at.title[0].value == "Match"  # the default page
    existing = [p for p in _page_files() if (PROJECT_DIR / p).is_file()]
    assert {"app_pages/match.py", "app_pages/review.py"} <= set(existing)
    for path in existing:
        at.switch_page(path).run()
        assert not at.exception, (path, at.exception)
        assert at.sidebar.text_input(key="curator") is not None


def test_curator_name_belongs_to_the_browser_tab_not_the_server(navigation_apptest):  # noqa: F811
    at = navigation_apptest().run()
    assert at.sidebar.text_input(key="curator").value == ""
    at.sidebar.text_input(key="curator").input("  Ann Curator ").run()
    at.switch_page("app_pages/review.py").run()
    assert at.sidebar.text_input(key="curator").value.strip() == "Ann Curator"
    assert at.query_params["curator"] in ("Ann Curator", ["Ann Curator"])  # a reload of this tab keeps it
    assert Settings.load().curator == ""  # nothing server-wide
    other = navigation_apptest().run()  # another tab, another person: starts empty (issue 14: no "Bob" for Ann)
    assert other.sidebar.text_input(key="curator").value == ""
    reload = navigation_apptest()
    reload.query_params["curator"] = "Ann Curator"  # the same tab reloaded: its URL still names her
    reload.run()
    assert reload.sidebar.text_input(key="curator").value == "Ann Curator"


def test_open_batch_survives_page_switches_and_reloads(navigation_apptest):  # noqa: F811
    store = Store()
    first = store.create_batch("first", ["ETH Zurich"])
    second = store.create_batch("second", ["EPFL"])
    at = navigation_apptest()
    at.query_params["batch"] = str(first)
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert at.selectbox(key="batch_picker").value == first
    at.switch_page("app_pages/match.py").run()
    assert at.query_params.get("batch") == str(first)  # put back after the page switch
    at.selectbox(key="batch_picker").select(second).run()
    assert at.query_params.get("batch") == str(second)
    fresh = navigation_apptest()
    fresh.query_params["batch"] = str(second)
    fresh.run()
    fresh.switch_page("app_pages/review.py").run()
    assert fresh.selectbox(key="batch_picker").value == second


def test_a_bad_batch_in_the_url_is_ignored(navigation_apptest):  # noqa: F811
    at = navigation_apptest()
    at.query_params["batch"] = "<script>"
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert not at.exception
    assert any("No batch is open" in i.value for i in at.info)
    at = navigation_apptest()
    at.query_params["batch"] = "999"
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert not at.exception
    assert any("No batch is open" in i.value for i in at.info)


def test_pages_exist_for_every_listed_core_page():
    assert Path(PROJECT_DIR / "app_pages" / "match.py").is_file()
    assert Path(PROJECT_DIR / "app_pages" / "review.py").is_file()


def test_no_legacy_pages_folder():
    """Streamlit treats a ``pages/`` folder beside app.py as legacy multipage discovery (a deep
    link on a fresh server would then run a page without app.py's navigation): keep it away."""
    assert not (PROJECT_DIR / "pages").exists()


def test_sidebar_says_which_registry_and_model(navigation_apptest):  # noqa: F811
    at = navigation_apptest().run()
    caption = " ".join(c.value for c in at.sidebar.caption)
    assert "Registry: demo" in caption and "institutions" in caption
    assert "Model: " in caption
