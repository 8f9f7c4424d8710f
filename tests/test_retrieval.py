"""Candidate retrieval on a small registry written here: noisy strings find the right institution."""

from __future__ import annotations

import pytest

from affiliation_curator.retrieval import Retriever
from tests.retrieval_fixtures import SmallRegistry, small_institutions

TUM = "https://ror.org/02kkvpp62"
EPFL = "https://ror.org/02s376052"
PASTEUR = "https://ror.org/0495fxg12"
PKU = "https://ror.org/02v51f717"
BERKELEY = "https://ror.org/01an7q238"


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    return Retriever(small_institutions())


def top_id(retriever: Retriever, text: str) -> str | None:
    found = retriever.search(text, k=5)
    return found[0].institution_id if found else None


def ids(retriever: Retriever, text: str, k: int = 5) -> list[str]:
    return [c.institution_id for c in retriever.search(text, k=k)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Department of Surgery, Technical University of Munich, Ismaninger Str. 22, 81675 Munich, Germany", TUM),
        ("Lehrstuhl fur Informatik, Technische Universitat Munchen, Garching", TUM),  # accents missing
        ("TECHNISCHE UNIVERSITÄT MÜNCHEN", TUM),  # all caps
        ("Dept. of Informatics, TUM, Garching, Germany", TUM),  # acronym
        ("EPFL", EPFL),
        ("1 Lab. of Photonics, Ecole Polytechnique Federale de Lausanne, 1015 Lausanne, CH; a.b@epfl.ch", EPFL),
        ("北京大学 物理学院", PKU),  # non-Latin script
        ("Dept of Physics, Univ. of California, Berkeley, CA 94720, USA", BERKELEY),
        ("*Institut Pasteur, 25-28 rue du Dr Roux, Paris, France", PASTEUR),
    ],
)
def test_noisy_strings_find_the_institution_first(retriever, text, expected):
    assert top_id(retriever, text) == expected


def test_several_institutions_in_one_string_are_all_found(retriever):
    found = ids(retriever, "Institut Pasteur, Paris, France; EPFL, Lausanne, Switzerland", k=3)
    assert PASTEUR in found and EPFL in found


def test_location_favours_the_institution_in_the_named_city(retriever):
    assert top_id(retriever, "Dept. of Cardiology, St Mary's Hospital, Rochester, MN, USA") == "https://ror.org/00aaaaa02"
    assert top_id(retriever, "Dept. of Cardiology, St Mary's Hospital, London, UK") == "https://ror.org/00aaaaa01"
    best = retriever.search("St Mary's Hospital, London, UK", k=2)[0]
    assert best.city_match is True and best.country_match is True


def test_parent_of_a_found_child_joins_the_candidates(retriever):
    found = retriever.search("Department of Genetics, Harvard Medical School, Boston, MA", k=5)
    assert found[0].institution_id == "https://ror.org/03wevmz92"
    parent = next(c for c in found if c.institution_id == "https://ror.org/03vek6s52")
    assert parent.score < found[0].score


def test_successor_of_an_inactive_institution_joins(retriever):
    found = ids(retriever, "Old Institute of Chemistry, Lyon", k=5)
    assert "https://ror.org/00aaaaa03" in found and "https://ror.org/00aaaaa04" in found


def test_evidence_and_score_range(retriever):
    found = retriever.search("TU München, Germany", k=10)
    assert found[0].institution_id == TUM and found[0].matched_name == "TU München" and found[0].name_type == "alias"
    assert all(0.0 <= c.score <= 1.0 for c in found)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02\x03\x04\x05\x06", "12345", "Germany", "x" * 100_000])
def test_bad_input_gives_no_or_harmless_candidates(retriever, text):
    found = retriever.search(text, k=5)
    assert isinstance(found, list)


def test_search_many_keeps_input_order(retriever):
    texts = ["EPFL", "", "Institut Pasteur", "TUM"]
    results = retriever.search_many(texts, k=1)
    assert [r[0].institution_id if r else None for r in results] == [EPFL, None, PASTEUR, TUM]


def test_index_is_cached_in_the_registry_folder(tmp_path):
    registry = SmallRegistry(small_institutions(), folder=tmp_path / "reg", version_key="v1")
    first = Retriever.for_registry(registry)
    assert (tmp_path / "reg" / "retrieval-index" / "meta.json").is_file()
    second = Retriever.for_registry(registry)
    assert second.search("EPFL")[0].institution_id == first.search("EPFL")[0].institution_id == EPFL
    # a new version of the registry (one institution less) is rebuilt, not served stale
    smaller = SmallRegistry([i for i in small_institutions() if i.id != EPFL], folder=tmp_path / "reg", version_key="v2")
    assert EPFL not in ids(Retriever.for_registry(smaller), "EPFL")


def test_an_acronym_inside_a_department_name_weighs_less_than_a_standalone_one(retriever):
    standalone = retriever.search("EPFL, Lausanne", k=1)[0]
    inside = retriever.search("Department of EPFL studies", k=1)[0]
    assert standalone.institution_id == inside.institution_id == EPFL
    assert inside.score < standalone.score


def test_a_loaded_index_is_reused_in_process(tmp_path):
    registry = SmallRegistry(small_institutions(), folder=tmp_path / "reg", version_key="v1")
    assert Retriever.for_registry(registry) is Retriever.for_registry(registry)
    assert Retriever.for_registry(registry) is not Retriever.for_registry(registry, city_boost=0.0)
