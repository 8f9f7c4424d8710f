"""Synthetic affiliation strings made from the registry, for training a reranker without labels.

A query is made from one of an institution's names (display name, label, alias or acronym)
wrapped in departments, addresses, cities, countries and noise (several languages,
abbreviations, case, typos); "no match" queries are names made up from parts of real ones and
company-like names, so the model also learns to say no."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence

from affiliation_curator.institution import Institution


# --------------------------------------------------------------------------- query synthesis

DEPARTMENTS = {
    "en": [
        "Department of Physics", "Dept. of Chemistry", "Department of Computer Science", "School of Medicine",
        "Faculty of Engineering", "Institute of Molecular Biology", "Division of Cardiology", "Department of Surgery",
        "Center for Neuroscience", "Laboratory of Genetics", "Graduate School of Science", "College of Agriculture",
        "Department of Electrical and Computer Engineering", "School of Public Health", "Department of Economics",
        "Department of Mathematics", "Department of Pediatrics", "Key Laboratory of Materials Science",
        "State Key Laboratory of Crop Genetics", "Department of Internal Medicine", "School of Life Sciences",
        "Department of Psychology", "Research Unit of Epidemiology", "Department of Civil Engineering",
        "Department of Radiology", "School of Pharmacy", "Department of Earth Sciences", "Cancer Center",
        "Department of Obstetrics and Gynecology", "Institute for Advanced Study", "School of Business",
        "Department of Anesthesiology", "Clinical Research Unit", "Department of Biochemistry",
    ],
    "de": [
        "Institut für Physik", "Lehrstuhl für Informatik", "Klinik für Neurologie", "Fakultät für Chemie",
        "Abteilung für Kardiologie", "Institut für Pathologie", "Zentrum für Molekulare Medizin",
    ],
    "fr": [
        "Laboratoire de Chimie", "Département de Biologie", "Service de Cardiologie", "UMR 5558",
        "Institut de Recherche en Informatique", "Unité de Recherche Clinique", "Faculté de Médecine",
    ],
    "es": [
        "Departamento de Física", "Facultad de Medicina", "Instituto de Química", "Servicio de Pediatría",
        "Departamento de Ingeniería", "Escuela de Ingenierías",
    ],
    "pt": ["Faculdade de Medicina", "Departamento de Engenharia", "Instituto de Biociências"],
    "it": ["Dipartimento di Fisica", "Dipartimento di Medicina", "Istituto di Chimica"],
}

ABBREVIATIONS = [
    (r"\bUniversity\b", "Univ."), (r"\bUniversity\b", "Univ"), (r"\bDepartment\b", "Dept."),
    (r"\bInstitute\b", "Inst."), (r"\bNational\b", "Natl."), (r"\bHospital\b", "Hosp."),
    (r"\bLaboratory\b", "Lab."), (r"\bTechnology\b", "Tech."), (r"\bScience\b", "Sci."),
    (r"\bUniversität\b", "Univ."), (r"\bUniversité\b", "Univ."), (r"\bUniversidad\b", "Univ."),
    (r"\bCenter\b", "Ctr."), (r"\bResearch\b", "Res."), (r"\bMedical\b", "Med."),
]

COUNTRY_VARIANTS = {
    "US": ["USA", "U.S.A.", "United States of America", "US"],
    "GB": ["UK", "U.K.", "England", "United Kingdom"],
    "CN": ["P.R. China", "PR China", "People's Republic of China", "China"],
    "DE": ["Germany", "Deutschland"],
    "KR": ["Korea", "Republic of Korea", "South Korea"],
    "RU": ["Russia", "Russian Federation"],
    "NL": ["The Netherlands", "Netherlands"],
    "BR": ["Brasil", "Brazil"],
    "ES": ["España", "Spain"],
    "IT": ["Italia", "Italy"],
    "CH": ["Suisse", "Switzerland", "Schweiz"],
    "IR": ["Iran", "I.R. Iran"],
    "TW": ["Taiwan", "Taiwan, ROC"],
}

STREETS = ["Main Street", "Hauptstraße", "Rue de la Paix", "Calle Mayor", "Via Roma", "University Avenue",
           "Station Road", "Park Lane", "Avenida Paulista", "Science Park", "Nanjing Road"]
COMPANY_WORDS = ["Pharmaceutical", "Biotech", "Technology", "Engineering", "Consulting", "Energy", "Medical Devices",
                 "Information Systems", "Software", "Chemical", "Materials", "Diagnostics", "Solutions", "Trading"]
COMPANY_SUFFIXES = ["Co., Ltd.", "Ltd", "GmbH", "Inc.", "LLC", "S.A.", "Pvt. Ltd.", "Corporation", "AG"]
GENERIC_KINDS = ["College", "Hospital", "Institute", "School", "Medical Center", "University", "Research Centre",
                 "Polytechnic", "Clinic", "Foundation", "Academy"]
GENERIC_WORDS = {
    "university", "college", "institute", "institut", "school", "hospital", "center", "centre", "of", "the", "and",
    "for", "de", "la", "del", "der", "für", "national", "research", "medical", "science", "sciences", "technology",
    "universidad", "université", "universität", "universidade", "università", "state", "academy", "foundation",
    "clinic", "laboratory", "department", "faculty", "health", "general", "international", "polytechnic",
}


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _typo(text: str, rng: random.Random) -> str:
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 6:
        return text
    i = rng.choice(letters[1:-1])
    op = rng.random()
    if op < 0.4:
        return text[:i] + text[i + 1 :]
    if op < 0.7 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i] + text[i:]


def _country(inst: Institution, rng: random.Random) -> str:
    variants = COUNTRY_VARIANTS.get(inst.country_code or "")
    if variants and rng.random() < 0.5:
        return rng.choice(variants)
    return inst.country_name or ""


def _pick_name(inst: Institution, rng: random.Random) -> tuple[str, str]:
    """(name, kind) for a query: mostly the display name, else a label, alias or acronym."""
    by_type: dict[str, list[str]] = {"label": [], "alias": [], "acronym": []}
    for n in inst.names:
        for t in ("alias", "acronym"):
            if t in n.types:
                by_type[t].append(n.value)
        if "label" in n.types and "ror_display" not in n.types:
            by_type["label"].append(n.value)
    r = rng.random()
    if r < 0.15 and by_type["label"]:
        return rng.choice(by_type["label"]), "label"
    if r < 0.30 and by_type["alias"]:
        return rng.choice(by_type["alias"]), "alias"
    if r < 0.40 and by_type["acronym"]:
        return rng.choice(by_type["acronym"]), "acronym"
    return inst.name, "display"


def synth_query(inst: Institution, rng: random.Random) -> str:
    """An affiliation string that names ``inst`` the way authors write (with noise)."""
    return synth_query_named(inst, rng)[0]


def synth_query_named(inst: Institution, rng: random.Random) -> tuple[str, str]:
    """``synth_query`` and the registry name it was made from."""
    name, kind = _pick_name(inst, rng)
    source_name = name
    if kind != "acronym" and rng.random() < 0.25:
        pattern, short = rng.choice(ABBREVIATIONS)
        name = re.sub(pattern, short, name, count=1)
    if kind != "acronym" and rng.random() < 0.05:
        name = _typo(name, rng)
    if name.lower().startswith("the ") and rng.random() < 0.5:
        name = name[4:]
    lang = rng.choices(list(DEPARTMENTS), weights=[10, 1, 1, 1, 0.5, 0.5])[0]
    dept = rng.choice(DEPARTMENTS[lang])
    city = inst.city or ""
    country = _country(inst, rng)
    postcode = rng.choice([f"{rng.randint(10000, 99999)}", f"D-{rng.randint(10000, 99999)}", f"{rng.randint(100, 999)} {rng.randint(10, 99)}", ""])
    street = f"{rng.randint(1, 200)} {rng.choice(STREETS)}"
    if kind == "acronym":  # an acronym alone is ambiguous: authors add a place or department
        templates = ["{name}, {city}", "{dept}, {name}, {city}, {country}", "{name} {city}", "{dept}, {name}"]
    else:
        templates = [
            "{name}", "{name}", "{dept}, {name}", "{dept}, {name}, {city}", "{dept}, {name}, {city}, {country}",
            "{name}, {city}, {country}", "{name}, {city}", "{dept}, {name}, {street}, {postcode} {city}, {country}",
            "{name}, {postcode} {city}, {country}", "{dept} {name} {city} {country}", "{name}, {country}",
            "{dept}; {name}; {city}", "{name} - {city}",
        ]
    text = rng.choice(templates).format(name=name, dept=dept, city=city, country=country, postcode=postcode, street=street)
    text = re.sub(r"\s+,", ",", re.sub(r"(,\s*)+", ", ", re.sub(r"\s+", " ", text))).strip(" ,;-")
    r = rng.random()
    if r < 0.06:
        text = text.lower()
    elif r < 0.09:
        text = text.upper()
    elif r < 0.14:
        text = _strip_accents(text)
    r = rng.random()
    if r < 0.05:
        text = f"{rng.randint(1, 9)} {text}"
    elif r < 0.08:
        text = f"{text}. Electronic address: {rng.choice(['j.doe', 'info', 'm.rossi'])}@example.org"
    return (text or inst.name), source_name


def _distinctive(name: str) -> list[str]:
    return [w for w in re.findall(r"[^\W\d_]{4,}", name) if w.lower() not in GENERIC_WORDS]


def synth_no_match(institutions: Sequence[Institution], known: set[str], rng: random.Random) -> str | None:
    """An institution-like name that is in no registry name (a made-up org, a small company)."""
    for _ in range(20):
        a, b = rng.choice(institutions), rng.choice(institutions)
        r = rng.random()
        if r < 0.45:  # a real name with one distinctive word swapped for another name's
            words_a, words_b = _distinctive(a.name), _distinctive(b.name)
            if not words_a or not words_b:
                continue
            name = re.sub(rf"\b{re.escape(rng.choice(words_a))}\b", rng.choice(words_b), a.name, count=1)
        elif r < 0.75:  # a company
            place = rng.choice([a.city, *(_distinctive(a.name) or ["Global"])]) or "Global"
            name = f"{place} {rng.choice(_distinctive(b.name) or ['United'])} {rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
        else:  # a person- or place-named college, hospital, school...
            word = rng.choice(_distinctive(b.name) or ["Gargi"])
            name = f"{word} {rng.choice(GENERIC_KINDS)}"
            if a.city and rng.random() < 0.5:
                name += f", {a.city}"
        if name.strip().lower() in known or name == a.name:
            continue
        if rng.random() < 0.4:
            name = f"{rng.choice(DEPARTMENTS['en'])}, {name}"
        return name
    return None
