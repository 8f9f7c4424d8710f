"""The default model on a curator's machine, on the Hugging Face cache stand-in of ../shared/fixtures.

The stand-in is laid out as a curator's cache is after the download: the jinaai remote code as
published and a tiny random-weight model stored in bfloat16 like the real checkpoint. Each test
copies it and runs a fresh interpreter with ``HF_HUB_CACHE``/``HF_MODULES_CACHE`` pointing at the
copy (the hub library reads them at import). The scripts print one JSON line the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from affiliation_curator import config

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
STANDIN = PROJECT_DIR.parent / "shared" / "fixtures" / "hf-cache-seed-standin" / "hub"
DEFAULT = config.DEFAULT_MODEL_ID


@pytest.fixture
def seed_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a fresh interpreter on a copy of the stand-in cache, with its own data directory."""
    if not STANDIN.is_dir():
        pytest.skip(f"the Hugging Face cache stand-in is absent ({STANDIN}); CI provides ../shared")
    shutil.copytree(STANDIN, tmp_path / "hub", symlinks=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "AFFILIATION_CURATOR_"))}
    env.update(HF_HUB_CACHE=str(tmp_path / "hub"), HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", AFFILIATION_CURATOR_HOME=str(tmp_path / "home"),
               AFFILIATION_CURATOR_THREADS="1", PYTHONPATH=str(PROJECT_DIR))
    return env


def run_fresh(script: str, env: dict[str, str], timeout: float = 600) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_seed_model_loads_in_float32_quantises_every_linear_layer_and_is_pinned(seed_env):
    out = run_fresh("""
        import json, torch
        from affiliation_curator import config
        from affiliation_curator.engine import reranker
        from affiliation_curator.errors import ModelLoadError
        s = reranker.load_scorer()  # the configured model: the default
        kinds = sorted({type(m).__name__ for m in s.model.model.modules() if 'Linear' in type(m).__name__})
        dtypes = sorted({str(p.dtype) for p in s.model.model.parameters()})
        scores = s.score([('Dept. of Physics, TU Munich', 'Technical University of Munich, Munich, Germany'),
                          ('x' * 100_000, 'University of Oxford')]).tolist()
        settings = config.Settings.load()
        again = reranker.load_cross_encoder(config.DEFAULT_MODEL_ID, reuse=False)
        # an interrupted download: config.json cached, the weights gone
        snapshot = reranker.resolve(config.DEFAULT_MODEL_ID).folder
        (snapshot / 'model.safetensors').unlink()
        try:
            reranker.load_cross_encoder(config.DEFAULT_MODEL_ID, reuse=False)
            partial = ''
        except ModelLoadError as err:
            partial = str(err)
        fallback = reranker.load_scorer(persist_cache=False)
        print(json.dumps({'model_id': s.model_id, 'description': s.describe(), 'fallback': s.fallback_reason,
                          'layers': s.quantization.layers, 'kept_float': s.quantization.kept_float,
                          'kinds': kinds, 'dtypes': dtypes, 'scores': scores, 'pins': [settings.model_revision,
                          settings.code_revision], 'again': again.describe(), 'partial': partial,
                          'fallback_model': fallback.model_id, 'fallback_reason': fallback.fallback_reason}))
    """, seed_env)
    assert out["model_id"] == DEFAULT and not out["fallback"]
    assert "int8 on CPU (9 linear layers" in out["description"]
    assert out["kept_float"] == 1  # the 1-output head: nothing to gain
    assert "ResidualInt8Linear" in out["kinds"] and "LinearResidual" not in out["kinds"]  # the fused QKV too
    assert "torch.bfloat16" not in out["dtypes"]
    assert all(0.0 <= v <= 1.0 for v in out["scores"]) and len(out["scores"]) == 2
    assert out["pins"] == ["a" * 40, "b" * 40]  # pinned on first load to the cached commits
    assert "pinned to aaaaaaaaaaaa" in out["again"]
    assert "only partly in the Hugging Face cache" in out["partial"] and "HF_HUB_OFFLINE" in out["partial"]
    assert out["fallback_model"] == "lexical-fallback" and "only partly" in out["fallback_reason"]


def test_curation_loop_on_the_seed_model(seed_env, tmp_path):
    """Rank a batch with the default model, decide, export, fine-tune from it (CLI and core), evaluate."""
    out = run_fresh("""
        import json
        from pathlib import Path
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.testing.v1 import AppTest
        from affiliation_curator import config
        from affiliation_curator.engine import reranker
        from affiliation_curator.cli import main
        from affiliation_curator.learning.curated_eval import evaluate_rows, gold_from_store
        from affiliation_curator.curation.export import ExportOptions, export_pairs
        from affiliation_curator.learning.finetune import curated_training_data, finetune
        from affiliation_curator.engine.matcher import Matcher
        from affiliation_curator.curation.ranking_jobs import rank_batch
        from affiliation_curator.registry import RegistryCatalog
        from affiliation_curator.curation.store import Store

        catalog = RegistryCatalog(); catalog.ensure_demo(); registry = catalog.load()
        strings = [s for s in config.SAMPLE_AFFILIATIONS_PATH.read_text().splitlines() if s.strip()][:24]
        matcher = Matcher(registry, reranker.load_scorer())
        store = Store()
        batch = store.create_batch('seed', strings, registry_name=registry.name, registry_version=registry.meta.version,
                                   model_id=matcher.model_id)
        rank_batch(store, matcher, batch)
        # the Review page of the batch, as the app draws it
        original = PagesManager.__init__
        def init(self, *a, **k):
            original(self, *a, **k)
            PagesManager.uses_pages_directory = False
        PagesManager.__init__ = init
        at = AppTest.from_file('app.py', default_timeout=120)
        at.query_params['batch'] = str(batch)
        at.query_params['curator'] = 'Ann'
        at.run(); at.switch_page('app_pages/review.py').run()
        captions = [c.value.replace(chr(92), '') for c in at.caption]  # as shown: markdown escapes removed
        sidebar = [c.value.replace(chr(92), '') for c in at.sidebar.caption]
        items = store.items(batch)
        for n, item in enumerate(items):
            cands = store.item(item.id).candidates
            if n % 5 == 4 or not cands:
                store.decide(item.id, 'none', 'Ann')
            else:
                store.decide(item.id, 'accept', 'Ann', cands[0].id)
        pairs = Path(config.home()) / 'pairs.jsonl'
        export_pairs(store, pairs, ExportOptions(batches=[batch]))
        data = curated_training_data(store, registry.institutions, validation_share=0.3)
        report = finetune(data, registry.institutions, config.models_dir() / 'from-seed',
                          base_model=config.DEFAULT_MODEL_ID, max_steps=2, batch_size=8)
        tuned = reranker.load_cross_encoder(report.out_dir, reuse=False)
        run = evaluate_rows(Matcher(registry, tuned), gold_from_store(store, [batch]))
        code = main(['model', 'train', '--base', config.DEFAULT_MODEL_ID, '--max-steps', '2', '--queries', '30',
                     '--no-match-queries', '8', '--out', str(config.models_dir() / 'cli-from-seed')])
        cli = reranker.load_cross_encoder(config.models_dir() / 'cli-from-seed', reuse=False)
        print(json.dumps({
            'item_models': sorted({i.model_id for i in store.items(batch)}), 'exception': [str(e) for e in at.exception],
            'captions': captions, 'sidebar': sidebar, 'pairs': sum(1 for _ in pairs.open()),
            'tuned': tuned.describe(), 'tuned_scores': tuned.score([('Dept X, TU Munich', 'Technical University of Munich')]).tolist(),
            'eval_rows': len(run.rows), 'eval_acc': run.summary()['accuracy@1'], 'cli_code': code, 'cli': cli.describe(),
            'choices': __import__('components.models', fromlist=['x']).hub_choices(),
        }))
    """, seed_env, timeout=900)
    assert out["item_models"] == [DEFAULT]
    assert not out["exception"]
    assert any(f"scored by {DEFAULT}" in c for c in out["captions"]), out["captions"]
    assert any(DEFAULT in c for c in out["sidebar"]) and not any("unavailable" in c for c in out["sidebar"])
    assert out["pairs"] > 10
    assert "from-seed" in out["tuned"] and 0.0 <= out["tuned_scores"][0] <= 1.0
    assert out["eval_rows"] == 24 and 0.0 <= out["eval_acc"] <= 1.0
    assert out["cli_code"] == 0 and "cli-from-seed" in out["cli"]
    assert DEFAULT in out["choices"]
