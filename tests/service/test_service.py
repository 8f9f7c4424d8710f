"""``serve``: the engine over HTTP, called over HTTP on a free port (demo registry, lexical scorer).

ROR answers are compared key by key with a ROR API v2 answer (tests/data/service); the
reconciliation answers are validated with JSON schemas written from the W3C spec (0.2).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import jsonschema
import pytest

from affiliation_curator.cli import main
from affiliation_curator.institution import Institution, Name
from affiliation_curator.service.limits import RateLimiter
from affiliation_curator.service.reconcile import preview_html
from fixtures.service import Server
DATA = Path(__file__).resolve().parent.parent / "fixtures" / "data" / "service"
TUM = "https://ror.org/02kkvpp62"
EPFL = "https://ror.org/02s376052"
PASTEUR = "https://ror.org/0495fxg12"
STRINGS = ["Dept. of Surgery, TU Munich, Germany", "EPFL, Lausanne", "Institut Pasteur, Paris",
           "University of Oxford", "Bakery of Nowhere Street 12"]
MATCHING_TYPES = {"PHRASE", "EXACT", "FUZZY", "HEURISTICS", "ACRONYM", "COMMON TERMS"}


def schema(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(tmp_path_factory.mktemp("serve-home"), "--registry", "demo", "--model", "lexical-fallback",
                 "--rate", "0")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def demo_matcher(tmp_path_factory: pytest.TempPathFactory):
    """The engine ``match`` would use, in this process (its own data directory)."""
    import os

    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.engine.reranker import LexicalScorer

    old = os.environ.get("AFFILIATION_CURATOR_HOME")
    os.environ["AFFILIATION_CURATOR_HOME"] = str(tmp_path_factory.mktemp("matcher-home"))
    try:
        registry = RegistryCatalog().load("demo")
        return Matcher(registry, LexicalScorer(), top_k=10)
    finally:
        if old is None:
            os.environ.pop("AFFILIATION_CURATOR_HOME", None)
        else:
            os.environ["AFFILIATION_CURATOR_HOME"] = old


def assert_same_shape(ours, ref, where: str = "$") -> None:
    """Same keys at every level, same JSON types; None stands for a value the registry does not keep."""
    if isinstance(ref, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(ref), f"{where}: keys {sorted(set(ours) ^ set(ref))} differ"
        for key in ref:
            assert_same_shape(ours[key], ref[key], f"{where}.{key}")
    elif isinstance(ref, list):
        assert isinstance(ours, list), where
        for n, item in enumerate(ours):
            if ref:
                assert_same_shape(item, ref[0], f"{where}[{n}]")
    elif ours is not None and ref is not None:
        numbers = (int, float)
        if isinstance(ref, bool) or isinstance(ours, bool):
            assert type(ours) is type(ref), where
        elif isinstance(ref, numbers):
            assert isinstance(ours, numbers), where
        else:
            assert type(ours) is type(ref), where


# -- health and home -----------------------------------------------------------------------


def test_health_and_home_page_say_which_registry_and_model_answer(server):
    health = server.get("/health")
    assert health.status == 200
    facts = health.json()
    assert facts["status"] == "ok" and facts["registry"] == "demo" and facts["institutions"] == 104
    # the shipped lexical combiner ranks the 104-record demo too (then its small-registry curve, while that
    # was fitted on this combiner): its threshold; else the lexical curves'
    from affiliation_curator.engine.combiner import SHIPPED_LEXICAL, Combiner
    from affiliation_curator.engine.score_scale import load_small_registry_curve

    shipped = Combiner.load(SHIPPED_LEXICAL)
    fresh = load_small_registry_curve(shipped) is not None
    assert facts["model"] == "lexical-fallback" and facts["combiner"] is fresh
    if fresh:
        assert facts["threshold"] == pytest.approx(shipped.threshold)
    assert facts["scores"].startswith("probability right, calibrated on")
    home = server.get("/")
    assert home.status == 200 and home.headers["content-type"].startswith("text/html")
    assert "<b>demo</b>" in home.text and "<b>lexical-fallback</b>" in home.text
    assert f"{server.base}/reconcile" in home.text


# -- ROR API v2 ------------------------------------------------------------------------------


def test_affiliation_answer_has_the_ror_v2_shape_field_by_field(server):
    reference = schema("ror-v2-affiliation-response.json")
    answer = server.get("/v2/organizations", affiliation=STRINGS[0])
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    data = answer.json()
    assert_same_shape(data, reference)
    assert data["number_of_results"] == len(data["items"]) == 10
    top = data["items"][0]
    org = top["organization"]
    assert org["id"] == TUM and top["chosen"] is True
    assert {"value": "Technical University of Munich", "types": ["ror_display", "label"], "lang": "en"} in org["names"]
    assert {"value": "TUM", "types": ["acronym"], "lang": None} in org["names"]
    assert org["types"] == ["education", "funder"] and org["status"] == "active" and org["established"] == 1868
    details = org["locations"][0]["geonames_details"]
    assert (details["name"], details["country_code"], details["country_name"]) == ("Munich", "DE", "Germany")
    assert {"type": "grid", "all": ["grid.6936.a"], "preferred": "grid.6936.a"} in org["external_ids"]
    assert {"type": "child", "id": "https://ror.org/04jc43x05", "label": "TUM Klinikum"} in org["relationships"]
    assert org["links"] == [{"type": "website", "value": "https://www.tum.de"}]
    assert org["admin"]["last_modified"] == {"date": "2026-06-23", "schema_version": "2.1"}
    scores = [item["score"] for item in data["items"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    for item in data["items"]:
        assert item["matching_type"] in MATCHING_TYPES
        assert item["substring"] and item["substring"] in STRINGS[0]
    assert [item["chosen"] for item in data["items"]].count(True) == 1
    assert server.get("/organizations", affiliation=STRINGS[0]).json() == data  # ROR's old base path too


def test_chosen_is_the_engines_auto_accept_decision(server, demo_matcher):
    for text in STRINGS:
        items = server.get("/v2/organizations", affiliation=text).json()["items"]
        result = demo_matcher.match(text)
        assert [i["organization"]["id"] for i in items] == [c.id for c in result.candidates]
        chosen = [i["organization"]["id"] for i in items if i["chosen"]]
        assert chosen == ([result.match] if result.match else []), text
    assert not any(i["chosen"] for i in server.get("/v2/organizations", affiliation=STRINGS[4]).json()["items"])


def test_matching_type_and_substring_name_the_part_that_matched(server):
    items = server.get("/v2/organizations", affiliation="EPFL, Lausanne").json()["items"]
    assert items[0]["organization"]["id"] == EPFL
    assert (items[0]["matching_type"], items[0]["substring"]) == ("ACRONYM", "EPFL")
    items = server.get("/v2/organizations", affiliation="Virology Unit, Institut Pasteur, Paris").json()["items"]
    assert (items[0]["matching_type"], items[0]["substring"]) == ("EXACT", "Institut Pasteur")
    items = server.get("/v2/organizations", affiliation="University of Oxford").json()["items"]
    assert (items[0]["matching_type"], items[0]["substring"]) == ("EXACT", "University of Oxford")


@pytest.mark.parametrize("spelling", ["02kkvpp62", "https://ror.org/02kkvpp62", "ror.org/02kkvpp62",
                                      "https%3A%2F%2Fror.org%2F02kkvpp62"])
def test_record_by_id_in_any_spelling(server, spelling):
    answer = server.get(f"/v2/organizations/{spelling}")
    assert answer.status == 200
    record = answer.json()
    assert record["id"] == TUM
    assert_same_shape(record, schema("ror-v2-affiliation-response.json")["items"][0]["organization"])
    assert server.get(f"/organizations/{spelling}").json() == record


def test_unknown_record_and_unknown_paths_are_json_errors(server):
    for path, status in [("/v2/organizations/0zzzzzz99", 404), ("/v2/organizations/" + "x" * 5000, 404),
                         ("/nothing/here", 404), ("/v2/organizations/<script>", 404)]:
        answer = server.get(path)
        assert answer.status == status, path
        assert answer.headers["content-type"] == "application/json"
        assert len(answer.json()["errors"]) == 1 and answer.json()["errors"][0]
    assert "does not exist" in server.get("/v2/organizations/0zzzzzz99").json()["errors"][0]
    wrong = server.request("DELETE", "/v2/organizations?affiliation=x")
    assert wrong.status == 405 and "DELETE" in wrong.json()["errors"][0]


def test_search_by_query_answers_like_ror(server):
    data = server.get("/v2/organizations", query="EPFL").json()
    assert data["items"][0]["id"] == EPFL and data["number_of_results"] >= 1
    assert {"types", "countries", "statuses"} <= set(data["meta"])
    first = server.get("/v2/organizations", query="university").json()
    second = server.get("/v2/organizations", query="university", page=2).json()
    assert len(first["items"]) == 20 and first["number_of_results"] == second["number_of_results"] > 20
    assert not {r["id"] for r in first["items"]} & {r["id"] for r in second["items"]}
    assert sum(c["count"] for c in first["meta"]["statuses"]) == first["number_of_results"]


@pytest.mark.parametrize("params, fragment", [
    ({}, "give affiliation=STRING"),
    ({"affiliation": "   "}, "give affiliation=STRING"),
    ({"affiliation": "a" * 2001}, "at most 2,000"),
    ({"affiliation": "a" * 100_000}, "affiliation is 100,000 characters; at most 2,000"),
    ({"query": "x", "page": "0"}, "page must be"),
])
def test_bad_ror_requests_get_one_clear_message(server, params, fragment):
    answer = server.get("/v2/organizations", **params)
    assert answer.status == 422
    assert fragment in answer.json()["errors"][0]


def test_hostile_affiliation_strings_are_answered_as_data(server):
    for text in ["<script>alert(1)</script>", "\x00\x01\x02\x03\x04\x05\x06garbage", "'; DROP TABLE x; --",
                 "🏛️ Universität Zürich ✓", "%s%s%n{{id}}${id}"]:
        answer = server.get("/v2/organizations", affiliation=text)
        assert answer.status == 200, text
        data = answer.json()
        assert data["number_of_results"] == len(data["items"])


# -- OpenRefine reconciliation ----------------------------------------------------------------


def test_manifest_follows_the_spec_and_jsonp(server):
    manifest = server.get("/reconcile").json()
    jsonschema.validate(manifest, schema("reconciliation-manifest.schema.json"),
                        format_checker=jsonschema.FormatChecker())
    assert manifest["identifierSpace"] == "https://ror.org/" and "0.2" in manifest["versions"]
    assert manifest["preview"]["url"].startswith(server.base)
    # the demo registry also holds two own ids: view goes through /view, which sends ROR ids to ror.org
    view = manifest["view"]["url"].replace("{{id}}", "02kkvpp62")
    assert view == f"{server.base}/view/02kkvpp62"
    moved = server.get("/view/02kkvpp62")
    assert moved.status in (302, 307) and moved.headers["location"] == TUM
    own = server.get("/view/local:saint-johns-university-mn")
    assert own.status == 200 and "Saint John" in own.text
    wrapped = server.get("/reconcile", callback="jQuery123_cb")
    assert wrapped.headers["content-type"].startswith("application/javascript")
    assert wrapped.text.startswith("/**/jQuery123_cb(") and wrapped.text.endswith(");")
    assert json.loads(wrapped.text[len("/**/jQuery123_cb("):-2]) == manifest
    bad = server.get("/reconcile", callback="alert(document.cookie)//")
    assert bad.status == 422 and "callback" in bad.json()["errors"][0]


def queries(**qs) -> str:
    return json.dumps(qs)


def test_batched_queries_by_post_and_get(server, demo_matcher):
    batch = queries(q0={"query": STRINGS[0]}, q1={"query": STRINGS[1], "limit": 2},
                    q2={"query": STRINGS[4]}, q3={"query": ""})
    posted = server.post_form("/reconcile", queries=batch)
    assert posted.status == 200
    data = posted.json()
    jsonschema.validate(data, schema("reconciliation-result-batch.schema.json"))
    assert set(data) == {"q0", "q1", "q2", "q3"}
    assert server.get("/reconcile", queries=batch).json() == data
    q0 = data["q0"]["result"]
    assert len(q0) == 5 and q0[0]["id"] == "02kkvpp62" and q0[0]["match"] is True
    assert [r["match"] for r in q0[1:]] == [False] * 4
    assert q0[0]["name"] == "Technical University of Munich" and q0[0]["description"] == "Munich, Germany"
    assert {"id": "education", "name": "Education"} in q0[0]["type"]
    assert len(data["q1"]["result"]) == 2 and data["q1"]["result"][0]["id"] == "02s376052"
    assert not any(r["match"] for r in data["q2"]["result"])
    assert demo_matcher.match(STRINGS[4]).match is None
    assert data["q3"]["result"] == []


def test_a_multipart_form_batch_is_read_too(server):
    boundary = "xYzBoundary"
    batch = queries(q0={"query": "Institut Pasteur, Paris", "limit": 1})
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"queries\"\r\n\r\n{batch}\r\n"
            f"--{boundary}--\r\n").encode("utf-8")
    answer = server.request("POST", "/reconcile", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status == 200
    assert [r["id"] for r in answer.json()["q0"]["result"]] == ["0495fxg12"]
    broken = server.request("POST", "/reconcile", b"--nope\r\ngarbage",
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert broken.status == 422 and "multipart form cannot be read" in broken.json()["errors"][0]
    upload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"queries\"; filename=\"a.txt\"\r\n\r\n"
              f"abc\r\n--{boundary}--\r\n").encode("utf-8")
    refused = server.request("POST", "/reconcile", upload, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert refused.status == 422 and "files" in refused.json()["errors"][0]


def test_properties_country_and_city_filter_and_count(server):
    plain = server.post_form("/reconcile", queries=queries(q0={"query": "Institute, Cambridge", "limit": 10})).json()
    countries = {r["description"].split(", ")[-1] for r in plain["q0"]["result"]}
    assert {"United Kingdom", "United States"} <= countries
    for value, wanted in [("United States", "United States"), ("GB", "United Kingdom")]:
        batch = queries(q0={"query": "Institute, Cambridge", "limit": 10, "properties": [{"pid": "country", "v": value}]})
        found = server.post_form("/reconcile", queries=batch).json()["q0"]["result"]
        assert found and {r["description"].split(", ")[-1] for r in found} == {wanted}
    # a city or a country named as a property counts as location evidence, as in the string itself
    batch = queries(q0={"query": "University", "limit": 3,
                        "properties": [{"p": "city", "v": "Oxford"}, {"pid": "country", "v": ["United Kingdom"]}]})
    found = server.post_form("/reconcile", queries=batch).json()["q0"]["result"]
    assert found[0]["name"] == "University of Oxford"
    typed = queries(q0={"query": "Cambridge", "type": "healthcare", "limit": 10})
    found = server.post_form("/reconcile", queries=typed).json()["q0"]["result"]
    assert found and all(any(t["id"] == "healthcare" for t in r["type"]) for r in found)


@pytest.mark.parametrize("raw, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    (json.dumps({f"q{n}": {"query": "x"} for n in range(101)}), "at most 100"),
    (json.dumps({"q0": {"query": "x" * 2001}}), "q0: query is 2,001 characters; at most 2,000"),
    (json.dumps({"q0": {"query": 5}}), "'query' must be a string"),
    (json.dumps({"q0": {"query": "x", "limit": -1}}), "'limit' must be a positive"),
    (json.dumps({"q0": {"query": "x", "properties": [{"pid": "P31", "v": "x"}]}}), "unknown property 'p31'"),
    (json.dumps({"q0": {"query": "x", "properties": "country"}}), "'properties' must be a list"),
])
def test_bad_batches_get_one_clear_message(server, raw, fragment):
    answer = server.post_form("/reconcile", queries=raw)
    assert answer.status == 422
    assert answer.headers["content-type"] == "application/json"
    assert fragment in answer.json()["errors"][0]


def test_huge_and_hostile_bodies_are_refused_or_answered_as_data(server):
    big = server.send_refusable("POST", "/reconcile", b"queries=" + b"x" * (1024 * 1024 + 10),
                                {"Content-Type": "application/x-www-form-urlencoded"})
    assert big.status == 413 and "at most" in big.json()["errors"][0]
    binary = server.request("POST", "/reconcile", bytes(range(256)) * 4,
                            {"Content-Type": "application/x-www-form-urlencoded"})
    assert binary.status == 422 and binary.json()["errors"]
    hostile = queries(q0={"query": "<img src=x onerror=alert(1)>"}, q1={"query": "\u0000\u0001" * 50},
                      q2={"query": "Ünïcödé Üniversität"})
    answer = server.post_form("/reconcile", queries=hostile)
    assert answer.status == 200
    jsonschema.validate(answer.json(), schema("reconciliation-result-batch.schema.json"))
    full = queries(**{f"q{n}": {"query": f"University {n} " + "word " * 390} for n in range(100)})
    answer = server.post_form("/reconcile", queries=full)
    assert answer.status == 200 and len(answer.json()) == 100


def test_suggest_preview_and_flyout_for_manual_matching(server):
    answer = server.request("GET", "/reconcile/suggest/entity?prefix=EPF", headers={"Origin": "http://127.0.0.1:3333"})
    assert answer.headers["access-control-allow-origin"] == "*"  # OpenRefine's browser side calls it
    found = answer.json()
    jsonschema.validate(found, schema("suggest-entities.schema.json"))
    assert found["result"][0] == {"id": "02s376052", "name": "École Polytechnique Fédérale de Lausanne",
                                  "description": "Lausanne, Switzerland · education, funder"}
    assert server.get("/reconcile/suggest/entity", prefix="").json() == {"result": []}
    assert server.get("/reconcile/suggest/entity", prefix="x" * 5000).status == 200
    props = server.get("/reconcile/suggest/property", prefix="co").json()
    assert [p["id"] for p in props["result"]] == ["country"]
    preview = server.get("/reconcile/preview", id="02kkvpp62")
    assert preview.status == 200 and preview.headers["content-type"].startswith("text/html")
    assert "Technical University of Munich" in preview.text and 'href="https://ror.org/02kkvpp62"' in preview.text
    flyout = server.get("/reconcile/flyout/entity", id="02kkvpp62").json()
    assert flyout["id"] == "02kkvpp62" and "Technical University of Munich" in flyout["html"]
    missing = server.get("/reconcile/preview", id="0zzzzzz99")
    assert missing.status == 404 and missing.json()["errors"]
    assert server.get("/reconcile/preview").status == 422


def test_preview_escapes_every_registry_string():
    inst = Institution("local:<b>", "<script>alert(1)</script>", names=[Name("<i>X</i>", ("acronym",))],
                       city="<img src=x>", country_name="A&B", types=["<u>t</u>"])
    page = preview_html(inst)
    assert "<script>" not in page and "<img" not in page and "<i>X" not in page and "<u>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "A&amp;B" in page


# -- bounds -------------------------------------------------------------------------------------


def test_token_bucket_refills_at_its_rate():
    now = [0.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # each client has its own bucket
    now[0] += 0.5
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0
    assert RateLimiter(0, 1).take("a") == 0.0  # rate 0: no limit


def test_rate_limit_per_client_answers_429_with_retry_after(tmp_path):
    srv = Server(tmp_path / "home", "--registry", "demo", "--model", "lexical-fallback", "--rate", "0.5", "--burst", "3")
    try:
        answers = [srv.get("/reconcile") for _ in range(6)]
        assert [a.status for a in answers[:3]] == [200, 200, 200]
        refused = [a for a in answers if a.status == 429]
        assert refused and "too many requests" in refused[0].json()["errors"][0]
        assert int(refused[0].headers["retry-after"]) >= 1
        assert srv.get("/health").status == 200  # monitoring is not counted
    finally:
        srv.stop()


def test_serve_refuses_a_taken_port_in_one_line(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["serve", "--port", str(port), "--registry", "demo", "--model", "lexical-fallback"]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err


def test_home_page_escapes_the_model_and_registry_it_names():
    """In process, through the ASGI interface: a model id with markup is shown as text."""
    import asyncio
    from types import SimpleNamespace

    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.service import create_app

    matcher = SimpleNamespace(registry=RegistryCatalog().load("demo"), model_id="<script>alert(1)</script>",
                              threshold=0.5, combiner=None)
    app = create_app(matcher)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/", "raw_path": b"/",
             "root_path": "", "query_string": b"", "headers": [(b"host", b"127.0.0.1:9292")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 9292)}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: an earlier test may leave a loop running in this one
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    assert sent[0]["status"] == 200
    page = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode("utf-8")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://127.0.0.1:9292/reconcile" in page
