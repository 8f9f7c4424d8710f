"""Hostile registry records and affiliations over every page: shown as text, links only to valid ROR ids.

A registry record can carry anything in its id, names and links; an upload anything in its
strings. Every page is run (AppTest) with such a registry active and such a batch open, and
every markdown-bearing string the pages send to the browser (bodies, labels, help texts) and
every link button is checked: no live link, image or tag, no bare URL left for GitHub-flavoured
markdown to auto-link, and each link built from a valid ROR id alone.
"""

from __future__ import annotations

import json
import re

import pytest
from fixtures.candidate_rows import row_texts
from fixtures.hostile import AFFILIATIONS, EVIL_ID, EVIL_ID_2, EVIL_NAME, TUM_ID, hostile_records, live_html
from fixtures.registries import write_json
from affiliation_curator.engine.results import Candidate, MatchResult
from affiliation_curator.institution import Institution, ror_link
from affiliation_curator.registry import RegistryCatalog
from affiliation_curator.curation.store import Store
from components.keyboard import SCRIPT as KEYBOARD_SCRIPT
from components.text import safe_md

VALID_LINK = re.compile(r"https://ror\.org/0[a-hj-km-np-tv-z0-9]{6}[0-9]{2}")
# What a browser would turn into a request or a link if it reached markdown unescaped.
LIVE = [
    (re.compile(r"(?<!\\)!\["), "an image"),
    (re.compile(r"(?<!\\)<(?:img|script|a|iframe)", re.I), "a tag"),
    (re.compile(r"https?(?:\\)?:(?:\\)?//evil|www(?:\\)?\.evil|\w@evil", re.I), "a bare URL GFM auto-links"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]
MARKDOWN_FIELDS = {"body", "label", "help", "caption", "title"}
PLAIN_TEXT_ELEMENTS = {"text", "code"}


@pytest.fixture
def hostile(tmp_path, curator_home):
    """A hostile registry in use and a ranked batch of hostile affiliations with hostile candidates."""
    catalog = RegistryCatalog()
    catalog.import_file(write_json(tmp_path / "hostile.json", hostile_records()), name="hostile")
    catalog.use("hostile")
    registry = catalog.load("hostile")
    cands = [
        Candidate(inst.id, inst.name, 0.9 - 0.1 * n, city=inst.city, country_name=inst.country_name, types=inst.types)
        for n, inst in enumerate(registry.institutions)
    ]
    store = Store()
    batch_id = store.create_batch("Hostile ![b](https://evil.example/b.png)", AFFILIATIONS, registry_name="hostile",
                                  model_id="model https://evil.example/m")
    for item in store.items(batch_id):
        store.save_result(item.id, MatchResult(item.affiliation, cands, None, model="test", threshold=0.5))
    store.decide(store.items(batch_id)[0].id, "accept", "Ann", cands[1].id)
    return store, batch_id


def _strings(message, out: list[str], urls: list[str], field_name: str = "") -> None:
    """Every string of a proto message: markdown-bearing ones to ``out``, URLs to ``urls``."""
    for descriptor, value in message.ListFields():
        values = value if getattr(descriptor, "is_repeated", False) else [value]
        for v in values:
            if isinstance(v, str):
                if descriptor.name in MARKDOWN_FIELDS:
                    out.append(v)
                elif descriptor.name in ("url", "href", "src"):
                    urls.append(v)
            elif hasattr(v, "ListFields"):
                _strings(v, out, urls, descriptor.name)


def markup_of(at) -> tuple[list[str], list[str], list[str]]:
    """(markdown-bearing strings, URLs, HTML bodies) the page sent."""
    out: list[str] = []
    urls: list[str] = []
    html: list[str] = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields") or getattr(node, "type", "") in PLAIN_TEXT_ELEMENTS:
            continue
        if getattr(node, "type", "") == "html":
            html.append(proto.body)
            continue
        if getattr(node, "type", "") == "bidi_component":  # the candidate rows: data its script sets as text
            assert proto.component_name == "affiliation_curator.candidate_list", proto.component_name
            urls += [row["link"] for row in json.loads(proto.json)["rows"] if row["link"] is not None]
            continue
        _strings(proto, out, urls)
    return out, urls, html


def assert_inert(at, where: str) -> None:
    assert not at.exception, (where, at.exception)
    strings, urls, html = markup_of(at)
    assert strings, f"{where}: nothing was read from the page"
    for body in html:
        if body == KEYBOARD_SCRIPT.strip():  # the Review page's own constant focus script: no user text in it
            continue
        assert not live_html(body), f"{where}: {live_html(body)} in {body!r}"
    for text in strings:
        for pattern, what in LIVE:
            assert not pattern.search(text), f"{where}: {what} in {text!r}"
        for target in re.findall(r"(?<!\\)\]\(([^)]*)\)", text):
            assert VALID_LINK.fullmatch(target), f"{where}: a link to {target!r} in {text!r}"
    for url in urls:
        assert VALID_LINK.fullmatch(url) or url.startswith("/") or not url, f"{where}: a link to {url!r}"


def test_links_only_from_valid_ror_ids() -> None:
    assert ror_link(TUM_ID) == TUM_ID and ror_link("02kkvpp62") == TUM_ID
    for bad in (EVIL_ID, EVIL_ID_2, "https://ror.org/02kkvpp62/../x", "javascript:alert(1)", "", TUM_ID + ")"):
        assert ror_link(bad) is None, bad
    assert Institution(EVIL_ID, "x").ror_url is None
    assert Institution(EVIL_ID_2, "x").ror_url is None
    assert Institution(TUM_ID, "x").ror_url == TUM_ID


def test_safe_md_leaves_nothing_to_auto_link() -> None:
    out = safe_md(EVIL_NAME)
    for pattern, what in LIVE:
        assert not pattern.search(out), (what, out)
    # on screen it reads the same (the word joiners are invisible, the escapes resolved)
    assert re.sub(r"\\(.)", r"\1", out).replace("\u2060", "") == EVIL_NAME
    # a valid ror.org URL stays exactly as it is (it reads and copies exactly; at most it links to ror.org)
    for text in (TUM_ID, f"ID: {TUM_ID}", f"see {TUM_ID}, or {TUM_ID}."):
        assert "\u2060" not in safe_md(text)
    assert "\u2060" in safe_md(f"{TUM_ID}.evil.example") and "\u2060" in safe_md(f"{TUM_ID}/../x@evil.example")


def test_every_page_shows_hostile_records_as_text(hostile, navigation_apptest) -> None:  # noqa: F811
    store, batch_id = hostile
    at = navigation_apptest()
    at.query_params["batch"] = str(batch_id)
    at.run()
    assert_inert(at, "Match")

    at.switch_page("app_pages/review.py").run()
    assert_inert(at, "Review")
    bars = [body for body in markup_of(at)[2] if 'class="score-bars"' in body]
    assert len(bars) == 1 and "2. Evil University https://evil.example/x" in bars[0], "hostile names are text there"
    rows = row_texts(at)
    assert rows[1].startswith("2. Evil University https://evil.example/x"), rows  # data for textContent
    search = [b for b in at.button if b.key and b.key.startswith("search_open_")]
    assert search, [b.key for b in at.button]
    search[0].click().run()
    at.text_input(key="registry_search").input("Evil").run()
    assert_inert(at, "Review: registry search")
    at.text_input(key="registry_search").input("Technical University of Munich").run()
    strings, _, _ = markup_of(at)
    assert any(f"[ror.org ↗]({TUM_ID})" in s for s in strings), "a valid ROR id still gets its link"
    for view in ("Table", "Bulk accept"):
        at.segmented_control(key="review_view").set_value(view).run()
        assert_inert(at, f"Review: {view}")

    for page in ("app_pages/export.py", "app_pages/evaluate.py", "app_pages/train.py", "app_pages/registry.py"):
        at.switch_page(page).run()
        assert_inert(at, page)

    for query in ("Evil", "Technical University of Munich"):
        at.text_input(key="registry_query").input(query).run()
        assert_inert(at, f"Registry: find {query}")
        for option in at.selectbox(key="registry_result").options:
            at.selectbox(key="registry_result").set_value(option).run()
            assert_inert(at, f"Registry: record {option}")
    _, urls, _ = markup_of(at)
    assert TUM_ID in urls, "the valid record still links to ror.org"
