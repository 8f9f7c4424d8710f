"""Normalisation, cleaning, segmenting and location detection of affiliation strings."""

from affiliation_curator.text import (
    LocationIndex,
    acronym_tokens,
    atoms,
    clean,
    fold,
    has_non_latin,
    institution_groups,
    normalize,
    sanitize,
    segments,
)


def test_fold_removes_accents_case_and_punctuation_but_keeps_other_scripts():
    assert fold("Technische Universität MÜNCHEN") == "technische universitat munchen"
    assert fold("Université Paris-Saclay") == "universite paris saclay"
    assert fold("Łódź, Straße, Ørsted") == "lodz strasse orsted"
    assert fold("北京大学") == "北京大学"
    assert fold("МОСКОВСКИЙ Университет").startswith("московск")  # Cyrillic kept, lower-cased
    assert fold("Queen's University") == "queens university"


def test_fold_keeps_the_marks_that_belong_to_a_letter_outside_latin_greek_and_cyrillic():
    # Devanagari vowel signs and virama, Thai vowels and tone marks: part of the word, no break
    assert fold("विज्ञान संकाय") == "विज्ञान संकाय"
    assert fold("มหาวิทยาลัยมหิดล") == "มหาวิทยาลัยมหิดล"
    assert fold("จุฬาลงกรณ์มหาวิทยาลัย") == "จุฬาลงกรณ์มหาวิทยาลัย"
    assert fold("ガス") != fold("カス")  # kana voicing marks make other words
    # accents of Latin, Greek and Cyrillic and the optional vowel points of Hebrew and Arabic go
    assert fold("Αθήνα") == fold("ΑΘΗΝΑ") == "αθηνα"
    assert fold("הָאוּנִיבֶרְסִיטָה") == "האוניברסיטה"
    assert fold("جَامِعَة") == "جامعة"
    assert fold("서울대학교") == "서울대학교"


def test_atoms_cut_unspaced_scripts_into_characters_and_others_into_words():
    assert atoms(normalize("東京大学 物理")) == ["東", "京", "大", "学", "物", "理"]
    assert atoms(normalize("Факультет физики")) == ["факультет", "физики"]
    assert atoms(normalize("KAIST한국")) == ["kaist", "한", "국"]
    assert has_non_latin("Αθήνα") and has_non_latin("北京") and not has_non_latin("Université Łódź")


def test_normalize_expands_abbreviations_and_spelling_variants():
    assert normalize("Dept. of Phys., Univ. of Tokyo") == "department of physics university of tokyo"
    assert normalize("Natl. Inst. of Tech.") == "national institute of technology"
    assert normalize("Centre for X") == normalize("Center for X")
    assert normalize("Texas A&M") == "texas a and m"


def test_clean_strips_emails_postcodes_footnotes_and_phone_numbers():
    raw = "1 Dept. of Surgery, TU Munich, Ismaninger Str. 22, D-81675 München, Germany. john.doe@tum.de"
    out = clean(raw)
    assert "@" not in out and "81675" not in out and not out.startswith("1")
    assert "TU Munich" in out and "Germany" in out
    assert "8730" not in clean("CCAST, P.O. Box 8730, Beijing 100080, China")
    assert clean("* Institut Pasteur, Paris. Electronic address: a@b.fr") == "Institut Pasteur, Paris"
    assert "SW7" not in clean("Imperial College London, London SW7 2AZ, UK")


def test_segments_give_parts_runs_and_groups():
    segs = segments("Dept. of Physics, University of California, Berkeley, CA")
    assert "University of California" in segs
    assert "University of California Berkeley" in segs  # a name containing a comma
    assert institution_groups("Institut Pasteur, Paris; EPFL, Lausanne") == ["Institut Pasteur, Paris", "EPFL, Lausanne"]
    segs = segments("Wellman Center for Photomedicine and Harvard Medical School")
    assert "Harvard Medical School" in segs
    segs = segments("Weill Cornell Medical College/New York Presbyterian Hospital")
    assert "New York Presbyterian Hospital" in segs and "Weill Cornell Medical College" in segs
    segs = segments("Khalifa University of Science and Technology")
    assert "Technology" not in segs  # a one-word piece is no name


def test_acronym_tokens():
    assert acronym_tokens("Dept. of Informatics, TUM, Garching") == ["TUM"]
    assert "EPFL" in acronym_tokens("EPFL, Lausanne")
    assert acronym_tokens("U.C.L.A. Medical Center") == ["UCLA"]
    assert acronym_tokens("University of Oxford") == []


def test_sanitize_empty_binary_long():
    assert sanitize("")[0] == "" and sanitize("   \t ")[0] == ""
    assert sanitize(None)[0] == ""
    text, notes = sanitize("\x00\x01\x02\x03\x04\x05garbage\x06\x07\x08")
    assert text == "" and "binary" in notes[0]
    text, notes = sanitize(b"Universit\xe9 de Lyon")  # invalid UTF-8 bytes decode with replacement
    assert text.startswith("Universit")
    text, notes = sanitize("University of Oxford " * 5000)
    assert len(text) <= 2000 and notes and "cut" in notes[0]


def test_location_index_finds_registry_cities_and_country_aliases():
    locs = LocationIndex(["Munich", "New York", "São Paulo"], [("DE", "Germany"), ("BR", "Brazil")])
    found = locs.find(normalize("TU Munich, München? no: Munich, Deutschland"))
    assert found.cities == {"munich"} and found.countries == {"DE"}
    found = locs.find(normalize("Univ. of Sao Paulo, Brasil"))
    assert found.cities == {"sao paulo"} and found.countries == {"BR"}
    assert locs.find(normalize("Columbia University, New York, NY, USA")).countries == {"US"}
    assert locs.find(normalize("Peking University, PR China")).countries == {"CN"}
    assert locs.find(normalize("Imperial College, UK")).countries == {"GB"}


def test_clean_keeps_names_that_open_with_a_lower_case_letter():
    assert clean("eLife") == "eLife"
    assert clean("iGReD, Université Clermont Auvergne") == "iGReD, Université Clermont Auvergne"
    assert clean("eScience Institute, University of Washington").startswith("eScience")
    # a footnote letter glued to the word that opens the affiliation still goes
    assert clean("aDepartment of Physics, University of Oslo") == "Department of Physics, University of Oslo"
    assert clean("bKey Laboratory of Plant Biology") == "Key Laboratory of Plant Biology"
    assert clean("c Institute of Botany") == "Institute of Botany"
