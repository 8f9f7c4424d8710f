"""Hostile registry records and affiliations (tests of pages and the browser): markup, URLs,
links, images and ids that only look like ROR ids."""

from __future__ import annotations

from registry_fixtures import ror_record

EVIL_ID = "https://ror.org/zz) ![t](https://evil.example/p.png)"
EVIL_ID_2 = "https://ror.org/0evil0l01"  # the shape of a ROR id, but i, l, o are not ROR characters
EVIL_NAME = ("Evil University https://evil.example/x www.evil.example spy@evil.example "
             "<img src=https://evil.example/i.png> ![i](https://evil.example/p.png) [x](javascript:alert(1))")
TUM_ID = "https://ror.org/02kkvpp62"
AFFILIATIONS = [
    "Dept. of Physics, Evil University, https://evil.example/a ![p](https://evil.example/q.png)",
    "<script>alert(1)</script> www.evil.example TU Munich",
]


def hostile_records() -> list[dict]:
    return [
        ror_record(TUM_ID, "Technical University of Munich", city="Munich"),
        ror_record(EVIL_ID, EVIL_NAME, city="https://evil.example/c",
                   names=[("EVIL ![a](https://evil.example/a.png)", ["acronym"], None)],
                   links=[("website", "javascript:alert(1)"), ("wikipedia", "https://evil.example/w")]),
        ror_record(EVIL_ID_2, "Evil Institute www.evil.example", status="inactive",
                   relationships=[("successor", EVIL_ID, "[s](https://evil.example/s)")]),
    ]
