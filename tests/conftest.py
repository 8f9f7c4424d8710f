"""The suite's set-up: offline model hubs, and every shared fixture of ``tests/fixtures`` registered once."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = [
    "fixtures.core",
    "fixtures.registries",
    "fixtures.retrieval",
    "fixtures.curation",
    "fixtures.hostile",
    "fixtures.zenodo",
    "fixtures.apptest",
    "fixtures.service",
]
