"""Candidate retrieval on a small registry written here: noisy strings find the right institution."""

from __future__ import annotations

import pytest

from affiliation_curator.engine.retrieval import Retriever
from fixtures.retrieval import SmallRegistry, script_institutions, small_institutions
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


# --- other scripts: a name inside a longer string of the same language ---------------------

TOKYO, KYOTO, SNU, MAHIDOL = ("https://ror.org/057zh3y96", "https://ror.org/02kpeqv85",
                              "https://ror.org/04h9pn542", "https://ror.org/01znkr924")
CAIRO, HUJI, DELHI, ATHENS, MSU = ("https://ror.org/03q21mh05", "https://ror.org/03qxff017",
                                   "https://ror.org/04gzb2213", "https://ror.org/04gnjpq42",
                                   "https://ror.org/010pmpe69")


@pytest.fixture(scope="module")
def script_retriever() -> Retriever:
    return Retriever(script_institutions())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("東京大学大学院理学系研究科", TOKYO),  # department glued to the name, no space
        ("東京大学大学院理学系研究科 東京都文京区本郷", TOKYO),  # and an address ("東京都" is a look-alike's name)
        ("東京都文京区京都大学医学部附属病院", KYOTO),
        ("北京大学计算机科学与技术学院 北京市海淀区", PKU),
        ("北京市北京大学物理学院", PKU),
        ("서울대학교 공과대학 서울특별시 관악구", SNU),
        ("서울특별시 서울대학교의과대학", SNU),
        ("คณะวิทยาศาสตร์ มหาวิทยาลัยมหิดล กรุงเทพมหานคร", MAHIDOL),
        ("ภาควิชาเคมีมหาวิทยาลัยมหิดลกรุงเทพมหานคร", MAHIDOL),
        ("كلية العلوم جامعة القاهرة القاهرة مصر", CAIRO),
        ("הפקולטה למדעים האוניברסיטה העברית בירושלים ירושלים ישראל", HUJI),
        ("विज्ञान संकाय दिल्ली विश्वविद्यालय नई दिल्ली भारत", DELHI),
        ("Τμήμα Φυσικής Εθνικό και Καποδιστριακό Πανεπιστήμιο Αθηνών Αθήνα Ελλάδα", ATHENS),
        ("Факультет физики Московский государственный университет имени М. В. Ломоносова Москва Россия", MSU),
        ("Кафедра химии Московский государственный университет г. Москва", MSU),
    ],
)
def test_a_name_in_any_script_is_found_inside_a_longer_string(script_retriever, text, expected):
    assert top_id(script_retriever, text) == expected


def test_the_scan_finds_names_without_spaces_and_keeps_the_longest(script_retriever):
    from affiliation_curator.text import normalize

    # "京大" (Kyoto's short name) sits inside "東京大学": only the longer name counts, and two
    # characters are too few to be scanned for at all.
    assert script_retriever.scan(normalize("東京大学大学院理学系研究科")) == ["東京大学"]
    assert script_retriever.scan(normalize("京大")) == []
    assert script_retriever.scan(normalize("東京都立大学理学部")) == ["東京都立大学"]
    assert "มหาวิทยาลัยมหิดล" in script_retriever.scan(normalize("ภาควิชาเคมีมหาวิทยาลัยมหิดลกรุงเทพมหานคร"))
    # Latin strings are not scanned: their search is unchanged
    assert script_retriever.scan(normalize("Department of Physics, The University of Tokyo")) == []


def test_names_in_other_scripts_alone_still_come_first(script_retriever):
    assert top_id(script_retriever, "東京大学") == TOKYO
    assert top_id(script_retriever, "京都大学") == KYOTO
    assert top_id(script_retriever, "จุฬาลงกรณ์มหาวิทยาลัย") == "https://ror.org/028wp3y58"
    assert top_id(script_retriever, "The University of Tokyo, Japan") == TOKYO


def test_unspaced_runs_give_bigrams_and_latin_words_keep_their_trigrams():
    from affiliation_curator.engine.retrieval import _words, char_grams

    assert char_grams("東京大学") == ["東京", "京大", "大学"]
    assert char_grams("tum") == [" tu", "tum", "um "]  # Latin as before
    assert char_grams("kaist한국과") == [" ka", "kai", "ais", "ist", "st ", "한국", "국과"]
    assert _words("東京大学 of physics") == ["東京", "京大", "大学", "physics"]
    assert _words("学") == ["学"]
