"""Importing ``rag`` keeps every library off the network unless the user said otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) leaves the root out
    sys.path.insert(0, str(_REPO))

from rag.offline import OFFLINE_ENVIRONMENT, apply_offline_defaults  # noqa: E402

REQUIRED = {
    "HF_HUB_OFFLINE": "1",
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
    "RAGAS_DO_NOT_TRACK": "true",
}
MANAGED = sorted({*OFFLINE_ENVIRONMENT, *REQUIRED, "TIKTOKEN_CACHE_DIR"})


def _fresh_python(script: str, environment: dict[str, str] | None = None) -> dict:
    """Run ``script`` in a new interpreter whose environment has none of the managed variables."""
    env = {key: value for key, value in os.environ.items() if key not in MANAGED}
    env.update(environment or {})
    env["PYTHONPATH"] = str(_REPO)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, cwd=str(_REPO)
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


DUMP_AFTER_IMPORT = f"""
import json, os
before = {{key: os.environ.get(key) for key in {MANAGED!r}}}
import rag
after = {{key: os.environ.get(key) for key in {MANAGED!r}}}
print(json.dumps({{"before": before, "after": after}}))
"""


def test_importing_rag_sets_the_offline_variables():
    result = _fresh_python(DUMP_AFTER_IMPORT)
    assert all(value is None for value in result["before"].values()), result["before"]
    for key, value in REQUIRED.items():
        assert result["after"][key] == value, key
    for key, value in OFFLINE_ENVIRONMENT.items():
        assert result["after"][key] == value, key
    cache = result["after"]["TIKTOKEN_CACHE_DIR"]
    assert cache and Path(cache).is_dir()


def test_importing_rag_keeps_values_the_user_set():
    result = _fresh_python(
        DUMP_AFTER_IMPORT,
        {"HF_HUB_OFFLINE": "0", "DO_NOT_TRACK": "false", "TIKTOKEN_CACHE_DIR": "/somewhere/else"},
    )
    assert result["after"]["HF_HUB_OFFLINE"] == "0"
    assert result["after"]["DO_NOT_TRACK"] == "false"
    assert result["after"]["TIKTOKEN_CACHE_DIR"] == "/somewhere/else"
    assert result["after"]["SCARF_NO_ANALYTICS"] == "true"  # the rest still get their defaults


@pytest.fixture
def bare_environment(monkeypatch):
    for key in MANAGED:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_apply_offline_defaults_sets_missing_variables(bare_environment):
    apply_offline_defaults()
    for key, value in REQUIRED.items():
        assert os.environ[key] == value
    for key, value in OFFLINE_ENVIRONMENT.items():
        assert os.environ[key] == value
    assert Path(os.environ["TIKTOKEN_CACHE_DIR"]).is_dir()


def test_apply_offline_defaults_keeps_preset_values(bare_environment):
    bare_environment.setenv("HF_HUB_OFFLINE", "0")
    bare_environment.setenv("SCARF_NO_ANALYTICS", "false")
    bare_environment.setenv("RAGAS_DO_NOT_TRACK", "")  # set, even if empty
    bare_environment.setenv("TIKTOKEN_CACHE_DIR", "/my/cache")
    apply_offline_defaults()
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["SCARF_NO_ANALYTICS"] == "false"
    assert os.environ["RAGAS_DO_NOT_TRACK"] == ""
    assert os.environ["TIKTOKEN_CACHE_DIR"] == "/my/cache"
    assert os.environ["DO_NOT_TRACK"] == "true"


def test_apply_offline_defaults_is_idempotent(bare_environment):
    apply_offline_defaults()
    first = {key: os.environ.get(key) for key in MANAGED}
    apply_offline_defaults()
    assert {key: os.environ.get(key) for key in MANAGED} == first


def test_tiktoken_cache_holds_the_llama_index_bundled_files(bare_environment):
    import llama_index.core

    apply_offline_defaults()
    cache = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    bundled = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
    assert cache.resolve() == bundled.resolve()
    files = [p for p in cache.iterdir() if p.is_file() and not p.name.startswith(".")]
    assert files, f"no BPE files in {cache}"
    assert all(p.stat().st_size > 100_000 for p in files)  # real BPE tables, not placeholders


def test_tiktoken_encodes_offline_from_the_cache():
    """cl100k_base loads from the cache alone: every download goes to a dead proxy."""
    pytest.importorskip("tiktoken")
    dead = "http://127.0.0.1:9"
    result = _fresh_python(
        "import json, rag, tiktoken\n"
        "print(json.dumps({'tokens': tiktoken.get_encoding('cl100k_base').encode('hello world')}))",
        {"HTTPS_PROXY": dead, "HTTP_PROXY": dead, "https_proxy": dead, "http_proxy": dead, "NO_PROXY": "", "no_proxy": ""},
    )
    assert result["tokens"] == [15339, 1917]
