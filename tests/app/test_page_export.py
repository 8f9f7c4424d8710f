"""Export page (AppTest): counts and card of the pairs export with its options, the mapping export,
the download files, and a store with nothing to export."""

from __future__ import annotations

import pytest

from fixtures.curation import NONE_STRINGS, fill_store


@pytest.fixture
def export_page(navigation_apptest, demo_results):  # noqa: F811
    store, batch_id = fill_store(demo_results)
    at = navigation_apptest()
    at.run()
    at.switch_page("app_pages/export.py").run()
    assert not at.exception, at.exception
    return at, store, batch_id


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def downloads(at) -> dict[str, str]:
    return {b.key: b.label for b in at.download_button}


def test_nothing_to_export_says_where_to_go(navigation_apptest):  # noqa: F811
    at = navigation_apptest().run()
    at.switch_page("app_pages/export.py").run()
    assert not at.exception
    assert "Nothing to export yet" in at.info[0].value


def test_pairs_counts_card_and_download(export_page, demo_results):  # noqa: F811
    at, store, batch_id = export_page
    accepted = sum(1 for r in demo_results if r.affiliation not in NONE_STRINGS and r.candidates)
    assert int(metric(at, "Positive (label 1)").replace(",", "")) == accepted
    pairs = int(metric(at, "Pairs").replace(",", ""))
    negatives = int(metric(at, "Negative (label 0)").replace(",", ""))
    assert pairs == accepted + negatives and negatives > accepted  # hard negatives (3 a string) and none/rejected
    labels = downloads(at)
    assert labels["pairs_file"] == "Download affiliation-pairs.csv"
    assert labels["pairs_card"] == "Download the dataset card (affiliation-pairs.card.md)"
    card = at.code[0].value
    assert "# Labelled affiliation pairs" in card and "Samples" in card and "hard negatives: 3" in card
    preview = at.dataframe[2].value  # origin, splits, then the file preview
    assert list(preview.columns) == ["query", "document", "label"]

    # no hard negatives: only explicit labels are left
    at.number_input(key="export_hard").set_value(0).run()
    origin = {r["origin"]: r["pairs"] for r in at.dataframe[0].value.to_dict("records")}
    assert origin["hard"] == 0 and origin["positive"] == accepted and origin["rejected"] == 3
    assert origin["none"] > 0

    # easy negatives from the demo registry, a split, JSON Lines: a zip of both splits and the card
    at.number_input(key="export_easy").set_value(2).run()
    at.slider(key="export_validation").set_value(30).run()
    at.segmented_control(key="export_format").set_value(".jsonl").run()
    assert not at.exception, at.exception
    origin = {r["origin"]: r["pairs"] for r in at.dataframe[0].value.to_dict("records")}
    assert origin["easy"] == 2 * accepted
    splits = {r["split"]: r for r in at.dataframe[1].value.to_dict("records")}
    assert splits["train"]["pairs"] + splits["validation"]["pairs"] == int(metric(at, "Pairs").replace(",", ""))
    assert splits["validation"]["affiliations"] > 0
    assert downloads(at)["pairs_file"].startswith("Download affiliation-pairs.zip")
    assert "affiliation-pairs.train.jsonl" in downloads(at)["pairs_file"]


def test_curator_and_date_filters(export_page):
    at, store, batch_id = export_page
    everyone = int(metric(at, "Pairs").replace(",", ""))
    at.multiselect(key="export_curators").select("Ann").run()
    ann = int(metric(at, "Pairs").replace(",", ""))
    assert 0 < ann < everyone
    at.multiselect(key="export_curators").unselect("Ann").run()
    from datetime import date

    at.date_input(key="export_dates").set_value((date(2024, 4, 1), date(2024, 4, 30))).run()  # Bob's day only
    assert not at.exception, at.exception
    april = int(metric(at, "Pairs").replace(",", ""))
    assert 0 < april < everyone and april != ann
    at.date_input(key="export_dates").set_value((date(2023, 1, 1), date(2023, 12, 31))).run()
    assert any("nothing to export" in i.value for i in at.info)


def test_mapping_export(export_page, demo_results):  # noqa: F811
    at, store, batch_id = export_page
    decided = sum(1 for r in demo_results if r.affiliation in NONE_STRINGS or r.candidates)
    assert int(metric(at, "Rows").replace(",", "")) == decided
    assert int(metric(at, "None of these").replace(",", "")) == len(NONE_STRINGS)
    assert downloads(at)["mapping_file"] == "Download affiliation-mapping.csv"
    preview = next(d.value for d in at.dataframe if "ror_id" in d.value.columns)
    assert {"affiliation", "ror_id", "institution_name", "decision", "score", "model_id", "registry_version",
            "curator", "decided_at"} <= set(preview.columns)
    at.checkbox(key="mapping_undecided").check().run()
    assert int(metric(at, "Rows").replace(",", "")) == len(demo_results)
    at.segmented_control(key="mapping_format").set_value(".parquet").run()
    assert downloads(at)["mapping_file"] == "Download affiliation-mapping.parquet"


def test_the_page_reads_the_decisions_once_until_they_change(navigation_apptest, demo_results, monkeypatch):  # noqa: F811
    from affiliation_curator.curation.store import Store

    store, batch_id = fill_store(demo_results)
    reads: list[object] = []
    real = Store.labelled_items

    def counting(self, batch_ids=None, rule="leave_out"):  # noqa: ANN001
        reads.append(batch_ids)
        return real(self, batch_ids, rule)

    monkeypatch.setattr(Store, "labelled_items", counting)
    at = navigation_apptest()
    at.query_params["batch"] = str(batch_id)
    at.run()
    at.switch_page("app_pages/export.py").run()
    assert not at.exception, at.exception
    assert len(reads) == 1 and list(reads[0]) == [batch_id]  # the chosen batch only, not the database
    before = int(metric(at, "Pairs").replace(",", ""))
    at.number_input(key="export_hard").set_value(0).run()  # an option: built again from what was read
    at.checkbox(key="mapping_undecided").check().run()
    at.run()
    assert len(reads) == 1 and int(metric(at, "Pairs").replace(",", "")) < before

    item = next(v for v in store.items(batch_id) if v.candidates)
    store.decide(item.id, "accept", "zoe", item.candidates[0].id)  # a decision elsewhere: read again
    at.run()
    assert len(reads) == 2 and "zoe" in at.multiselect(key="export_curators").options
