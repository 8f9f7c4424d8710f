"""Training pairs from a small written registry, and a few training steps of the tiny model."""

from __future__ import annotations

import json
import random

import pytest

from affiliation_curator.engine.calibration import Outcome, calibrate_threshold, metrics_at
from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.institution import Institution
from affiliation_curator.engine.documents import document_function
from affiliation_curator.engine.reranker import CrossEncoderScorer, load_scorer
from affiliation_curator.learning.pairs import gold_pairs, read_pairs_file, registry_pairs
from affiliation_curator.learning.synthetic import synth_no_match, synth_query
from affiliation_curator.learning.trainer import train_cross_encoder
from fixtures.training import _ror, make_registry

@pytest.fixture(scope="module")
def registry() -> list[Institution]:
    return make_registry()


@pytest.fixture(scope="module")
def retriever(registry):
    from affiliation_curator.engine.retrieval import Retriever

    return Retriever(registry)


def test_synth_queries_name_the_institution(registry):
    rng = random.Random(0)
    tum = registry[0]
    queries = [synth_query(tum, rng) for _ in range(200)]
    assert len(set(queries)) > 100
    names = {n.value.lower() for n in tum.names} | {"technical univ", "tech"}
    lowered = [q.lower() for q in queries]
    assert sum(any(n in q for n in names) for q in lowered) > 150
    assert any("munich" in q for q in lowered) and any("germany" in q or "deutschland" in q for q in lowered)
    assert all(q.strip() for q in queries)


def test_synth_no_match_names_are_not_registry_names(registry):
    rng = random.Random(1)
    known = {n.value.lower() for inst in registry for n in inst.names}
    made = [synth_no_match(registry, known, rng) for _ in range(50)]
    assert sum(m is not None for m in made) > 40
    assert all(m.lower() not in known for m in made if m)


def test_registry_pairs_have_positives_and_hard_negatives(registry, retriever):
    document = document_function()
    pairs = registry_pairs(registry, retriever, document, n_queries=60, n_no_match=20, n_heldout=20, seed=3)
    positives = [p for p in pairs.pairs if p.label == 1.0]
    negatives = [p for p in pairs.pairs if p.label == 0.0]
    assert len(positives) == 60
    assert len(negatives) >= 120
    names = tuple(inst.name for inst in registry)
    assert all(p.document.startswith(names) for p in pairs.pairs)
    # documents carry the name the retriever matched when it is not the display name
    assert any("(" in p.document for p in positives)
    plain = registry_pairs(registry, retriever, document_function("plain"), n_queries=30, n_no_match=5,
                           n_heldout=5, seed=3)
    assert not any("(" in p.document for p in plain.pairs)
    # hard negatives: most share a word with the query's institution (retriever look-alikes)
    by_query: dict[str, list] = {}
    for p in pairs.pairs:
        by_query.setdefault(p.affiliation, []).append(p)
    for query, group in by_query.items():
        pos = [p.document for p in group if p.label == 1.0]
        negs = [p.document for p in group if p.label == 0.0]
        assert not set(pos) & set(negs), query
    assert pairs.counts.get("synthetic-no-match negative", 0) > 0
    assert len(pairs.heldout) == 20 + 20 // 3 or len(pairs.heldout) >= 20
    assert any(not q.ids for q in pairs.heldout) and any(q.ids for q in pairs.heldout)


def test_gold_pairs_use_only_rows_in_the_registry(registry, retriever):
    from affiliation_curator.curation.gold import GoldRow

    by_id = {i.id: i for i in registry}
    document = document_function()
    rows = [
        GoldRow("Dept. of Physics, TU Munich, Germany", [_ror("01")]),
        GoldRow("Stanford University, Stanford, CA", ["https://ror.org/00f54p054"]),  # not in this registry
        GoldRow("Gargi University of Technology, Delhi", []),
        GoldRow("Harvard Medical School and Massachusetts General Hospital, Boston", [_ror("05"), _ror("19")]),
    ]
    out = gold_pairs(rows, retriever, by_id, document, kind="gold:x", heldout_share=0.0)
    assert {p.affiliation for p in out.pairs} == {rows[0].affiliation, rows[2].affiliation, rows[3].affiliation}
    assert [p.label for p in out.pairs if p.affiliation == rows[2].affiliation] == [0.0] * len(
        [p for p in out.pairs if p.affiliation == rows[2].affiliation]
    )
    both = [p for p in out.pairs if p.affiliation == rows[3].affiliation and p.label == 1.0]
    assert len(both) == 2
    held = gold_pairs(rows, retriever, by_id, document, kind="gold:x", heldout_share=1.0)
    assert not held.pairs and len(held.heldout) == 3


def test_read_pairs_file(tmp_path, registry):
    by_id = {i.id: i for i in registry}
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "\n".join([
            json.dumps({"affiliation": "TUM, Munich", "document": "Technical University of Munich, Munich, Germany", "label": 1}),
            json.dumps({"affiliation": "TUM, Munich", "institution_id": _ror("02"), "label": 0}),
            json.dumps({"affiliation": "x", "institution_id": "https://ror.org/00f54p054", "label": 1}),  # unknown id
            json.dumps({"affiliation": "LMU", "ror_ids": [_ror("02")]}),
        ]),
        encoding="utf-8",
    )
    pairs, gold = read_pairs_file(path, by_id, document_function())
    assert [p.label for p in pairs] == [1.0, 0.0]
    assert pairs[1].document.startswith("Ludwig-Maximilians")
    assert gold[0].ror_ids == [_ror("02")]
    path.write_text('{"affiliation": "a", "label": 3}\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 1"):
        read_pairs_file(path, by_id, document_function())
    path.write_text('{"affiliation": "a", \n', encoding="utf-8")
    with pytest.raises(InputError, match="not JSON"):
        read_pairs_file(path, by_id, document_function())


def test_read_exported_pairs_csv_and_parquet(tmp_path, registry):
    """The `export` command's pairs files (query, document, label) train as they are."""
    import pandas as pd

    by_id = {i.id: i for i in registry}
    frame = pd.DataFrame({"query": ["TUM", "TUM"], "document": ["Technical University of Munich, Munich, Germany",
                                                                "University of Hamburg, Hamburg, Germany"], "label": [1, 0]})
    frame.to_csv(tmp_path / "pairs.csv", index=False)
    frame.to_parquet(tmp_path / "pairs.parquet")
    for name in ("pairs.csv", "pairs.parquet"):
        pairs, gold = read_pairs_file(tmp_path / name, by_id, document_function())
        assert [(p.affiliation, p.label) for p in pairs] == [("TUM", 1.0), ("TUM", 0.0)] and not gold
    (tmp_path / "bad.csv").write_text("query,document,label\nTUM,x,maybe\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        read_pairs_file(tmp_path / "bad.csv", by_id, document_function())


def test_calibration_picks_a_separating_threshold():
    outcomes = [Outcome(0.9, True, False, "a")] * 8 + [Outcome(0.3, False, True, "a")] * 5 + [
        Outcome(0.6, False, False, "b"), Outcome(None, False, True, "b")]
    m = calibrate_threshold(outcomes)
    assert 0.6 < m.threshold <= 0.9
    assert m.precision == 1.0 and m.no_match_recall == 1.0
    strict = calibrate_threshold(outcomes, method="precision", target_precision=0.99)
    assert strict.precision >= 0.99
    at_zero = metrics_at(outcomes, 0.0)
    assert at_zero.coverage == pytest.approx(14 / 15)
    assert calibrate_threshold([]).threshold == 0.5


def test_the_precision_threshold_keeps_its_precision_among_nearly_tied_scores():
    # a flat stretch of a calibration curve: scores a millionth apart, the right ones a little higher
    outcomes = [Outcome(0.9, True, False)] * 90 + [Outcome(0.7 + k * 1e-7, k >= 50, False) for k in range(100)]
    m = calibrate_threshold(outcomes, method="precision", target_precision=0.95)
    assert m.precision >= 0.95 and m.accepted == 147  # 140 right, 7 wrong (rounded: all 190 accepted, 0.74)


def test_training_a_few_steps_writes_a_loadable_model(registry, tiny_cross_encoder_dir, tmp_path):
    from sentence_transformers import CrossEncoder

    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "\n".join(json.dumps({"affiliation": f"Dept {i}, University of Oxford", "ror_ids": [_ror("08")]}) for i in range(20)),
        encoding="utf-8",
    )
    messages: list[str] = []
    out = tmp_path / "model-out"
    report = train_cross_encoder(
        registry, out, gold_files=[gold], base_model=str(tiny_cross_encoder_dir), max_steps=3, batch_size=8,
        n_queries=40, n_no_match=10, progress=messages.append,
    )
    assert report.steps == 3
    assert any(m.startswith("step ") for m in messages)
    assert report.seconds_cpu > 0 and report.train_seconds_cpu > 0
    assert any("gold:gold.jsonl" in k for k in report.pair_counts)
    card = json.loads((out / "curator.json").read_text())
    assert card["threshold"] == report.threshold
    assert 0.0 <= card["threshold"] <= 1.0
    assert "calibration" in card["metrics"] and card["training"]["steps"] == 3
    assert card["document_format"] and card["document_style"] == "matched-name"
    assert 0.0 <= card["retrieval_weight"] <= 0.7 and card["retrieval_weight"] == report.retrieval_weight
    CrossEncoder(str(out)).predict([("a", "b")])
    scorer = load_scorer(str(out))
    assert isinstance(scorer, CrossEncoderScorer) and scorer.fallback_reason is None
    assert scorer.threshold == pytest.approx(report.threshold)
    assert scorer.retrieval_weight == report.retrieval_weight and scorer.document_style == "matched-name"
    assert not list(tmp_path.glob(".model-out.partial-*"))
    assert any("threshold" in line for line in report.lines())


def test_training_refuses_to_overwrite_a_foreign_folder(registry, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(CuratorError, match="not one of our model folders"):
        train_cross_encoder(registry, foreign, max_steps=1)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_training_an_empty_registry_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="empty"):
        train_cross_encoder([], tmp_path / "m", max_steps=1)


def test_length_bucket_batches_cover_every_pair_once_with_similar_lengths():
    from affiliation_curator.learning.trainer import LengthBucketBatchSampler

    lengths = [random.Random(i).randint(5, 300) for i in range(2000)]
    sampler = LengthBucketBatchSampler(lengths, 32, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 63
    assert sorted(i for b in batches for i in b) == list(range(2000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 60  # random batches would span ~270
    sampler.set_epoch(1)
    assert list(sampler) != batches
    assert len(LengthBucketBatchSampler(lengths, 32, drop_last=True)) == 62


class _FakeScorer:
    model_id = "fake"
    threshold = 0.5

    def __init__(self, style: str, weight: float) -> None:
        self.document_style = style
        self.retrieval_weight = weight
        self.seen: list[tuple[str, str]] = []

    def score(self, pairs):
        import numpy as np

        self.seen.extend(pairs)
        return np.full(len(pairs), 0.2, dtype=np.float32)


def test_matcher_follows_the_model_card(registry, retriever):
    """Documents with the matched name and the retrieval blend apply when the card asks for them."""
    from affiliation_curator.engine.matcher import Matcher

    styled = _FakeScorer("matched-name", 0.5)
    result = Matcher(registry, scorer=styled, retriever=retriever).match("Dept. of Physics, TUM, Munich")
    assert any("Technical University of Munich (TUM)" in doc for _, doc in styled.seen)
    top = result.candidates[0]
    assert top.score == pytest.approx(0.5 * 0.2 + 0.5 * top.retrieval_score, abs=1e-6)
    assert "(TUM)" in top.document

    plain = _FakeScorer("", 0.0)
    result = Matcher(registry, scorer=plain, retriever=retriever).match("Dept. of Physics, TUM, Munich")
    assert not any("(" in doc for _, doc in plain.seen)
    assert result.candidates[0].score == pytest.approx(0.2)
