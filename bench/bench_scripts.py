"""Retrieval and matching of affiliations written in scripts other than Latin.

    python bench/bench_scripts.py [--per-script 200] [--per-file 300] [--seed 0]

The set is made from the shared 51k registry itself: its labels and aliases written in one
script (Chinese, Japanese, Korean, Thai, Arabic, Hebrew, Devanagari, Greek, Cyrillic; the script
is read from the characters with unicodedata, Chinese and Japanese told apart by kana or the
name's language), each owned by one institution only, wrapped in a department and an address of
the same language with no comma in between, the way such strings arrive:

    東京大学大学院理学系研究科 東京都文京区        Факультет физики <name> Москва Россия
    计算机科学与技术学院<name> 北京市海淀区          <name> قسم الكيمياء القاهرة

Two templates a script, alternating. Per script: retrieval accuracy@1 and recall@20 (the
name's institution in the first-stage list) and Matcher accuracy@1 with the lexical scorer
(no model: ``lexical-fallback``); beside them the same figures for Latin strings: matchable
train-side gold rows (``--per-file`` a gold file). Nothing is tuned on these rows.

Run it on an older commit to compare (it uses only the public Retriever/Matcher API):
``git archive OLD | tar -x -C /tmp/x/code`` with ``/tmp/x/shared -> ../shared``.
"""

from __future__ import annotations

import argparse
import random
import time
import unicodedata
from collections import defaultdict

from _common import Tee, gold_rows, shared_registry

# script -> (department, address) pairs; "{name}" is where the institution's name goes.
TEMPLATES: dict[str, list[str]] = {
    "Japanese": ["{name}大学院理学系研究科 東京都文京区本郷", "東京都文京区{name}医学部附属病院"],
    "Chinese": ["{name}计算机科学与技术学院 北京市海淀区", "北京市{name}物理学院"],
    "Korean": ["{name} 공과대학 서울특별시 관악구", "서울특별시 {name}의과대학"],
    "Thai": ["คณะวิทยาศาสตร์ {name} กรุงเทพมหานคร", "ภาควิชาเคมี{name}กรุงเทพมหานคร"],
    "Arabic": ["كلية العلوم {name} القاهرة مصر", "{name} قسم الكيمياء القاهرة"],
    "Hebrew": ["הפקולטה למדעים {name} ירושלים ישראל", "{name} המחלקה לכימיה ירושלים"],
    "Devanagari": ["विज्ञान संकाय {name} नई दिल्ली भारत", "{name} रसायन विज्ञान विभाग नई दिल्ली"],
    "Greek": ["Τμήμα Φυσικής {name} Αθήνα Ελλάδα", "{name} Σχολή Θετικών Επιστημών Αθήνα"],
    "Cyrillic": ["Факультет физики {name} Москва Россия", "{name} Кафедра химии г. Москва"],
}
_PREFIX = (("CJK", "han"), ("HIRAGANA", "kana"), ("KATAKANA", "kana"), ("HANGUL", "Korean"), ("THAI", "Thai"),
           ("ARABIC", "Arabic"), ("HEBREW", "Hebrew"), ("DEVANAGARI", "Devanagari"), ("GREEK", "Greek"),
           ("CYRILLIC", "Cyrillic"), ("LATIN", "Latin"))


def char_script(c: str) -> str:
    name = unicodedata.name(c, "")
    for prefix, script in _PREFIX:
        if name.startswith(prefix):
            return script
    return "other"


def name_script(value: str, lang: str | None) -> str | None:
    """The one script of a name's letters (None for Latin, mixed or other scripts)."""
    scripts = {char_script(c) for c in value if c.isalpha()}
    if not scripts or "Latin" in scripts or "other" in scripts:
        return None
    if scripts <= {"han", "kana"}:
        return "Japanese" if "kana" in scripts or (lang or "").startswith("ja") else "Chinese"
    return scripts.pop() if len(scripts) == 1 else None


def script_sets(registry, per_script: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """script -> [(affiliation string, institution id)]: names owned by one institution only."""
    owners: dict[str, set[str]] = defaultdict(set)
    by_script: dict[str, dict[str, str]] = defaultdict(dict)
    for inst in registry:
        for n in inst.names or []:
            if "acronym" in n.types or n.value.isascii():
                continue
            owners[n.value.casefold()].add(inst.id)
            script = name_script(n.value, n.lang)
            if script:
                by_script[script].setdefault(n.value, inst.id)
    rng = random.Random(seed)
    out = {}
    for script in TEMPLATES:
        names = sorted((v, i) for v, i in by_script.get(script, {}).items() if len(owners[v.casefold()]) == 1)
        rng.shuffle(names)
        names = names[:per_script]
        out[script] = [(TEMPLATES[script][k % 2].format(name=v), i) for k, (v, i) in enumerate(names)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-script", type=int, default=200, help="names a script (default 200; fewer where the registry has fewer)")
    ap.add_argument("--per-file", type=int, default=300, help="Latin train-side gold rows a gold file (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="", help="suffix of the saved result file (e.g. 'before')")
    args = ap.parse_args()
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.engine.reranker import load_scorer
    from affiliation_curator.engine.retrieval import Retriever

    out = Tee("bench_scripts" + (f"_{args.tag}" if args.tag else ""))
    registry = shared_registry()
    t0 = time.perf_counter()
    retriever = Retriever.for_registry(registry)
    out(f"registry {registry.name}: {len(registry):,} institutions; index ready in {time.perf_counter() - t0:.1f} s")
    matcher = Matcher(registry, scorer=load_scorer("lexical-fallback"), top_k=20, retriever=retriever)
    sets = script_sets(registry, args.per_script, args.seed)
    latin = [(r.affiliation, set(r.ror_ids)) for _f, r in gold_rows("train", args.per_file, args.seed, matchable_only=True)]
    groups = [(s, [(t, {i}) for t, i in rows]) for s, rows in sets.items()] + [("Latin (train gold)", latin)]
    out(f"{'script':20s} {'n':>5s} {'ret@1':>6s} {'R@20':>6s} {'match@1':>7s}  example")
    total = [0, 0, 0, 0]
    for script, rows in groups:
        if not rows:
            out(f"{script:20s} {0:5d}  (no single-owner names in this script)")
            continue
        texts = [t for t, _g in rows]
        found = retriever.search_many(texts, k=20)
        ret1 = sum(bool(c) and c[0].institution_id in g for c, (_t, g) in zip(found, rows))
        r20 = sum(bool(g & {x.institution_id for x in c}) for c, (_t, g) in zip(found, rows))
        m1 = sum(bool(res.top and res.top.id in g) for res, (_t, g) in zip(matcher.match_many(texts), rows))
        n = len(rows)
        example = " ".join(texts[0].split())[:60]
        out(f"{script:20s} {n:5d} {ret1 / n:6.3f} {r20 / n:6.3f} {m1 / n:7.3f}  {example}")
        if not script.startswith("Latin"):
            for j, v in enumerate((n, ret1, r20, m1)):
                total[j] += v
    n = max(total[0], 1)
    out(f"{'all non-Latin':20s} {total[0]:5d} {total[1] / n:6.3f} {total[2] / n:6.3f} {total[3] / n:7.3f}")
    out.save()


if __name__ == "__main__":
    main()
