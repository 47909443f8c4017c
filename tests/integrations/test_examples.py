"""The examples under examples/ run as a user runs them (`python examples/NAME.py`), against the sample
collection, in this process's verirag or a real `verirag serve`, and print what their docstrings promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.api.helpers import COLLECTION
from tests.support.verirag_serve import REPO, verirag_environment

pytestmark = pytest.mark.slow


def run_example(name: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, str(REPO / "examples" / name)], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def local_env(copy_data, model):
    return verirag_environment(copy_data(), model.base_url, COLLECTION)


def test_http_client_example(served, model):
    env = {**verirag_environment(REPO, model.base_url, COLLECTION), "VERIRAG_URL": served.url,
           "VERIRAG_API_KEY": served.key}
    out = run_example("http_client.py", env)
    assert "287.5" in out and out.count("verdict: supported") == 2 and "sources:" in out


def test_llamaindex_example(local_env):
    out = run_example("llamaindex_verirag.py", local_env)
    assert "verdict: supported" in out and "supported      Unit 3" in out
    assert "changed answer passing: False" in out and "312.5" in out


def test_langchain_example(local_env):
    out = run_example("langchain_verirag.py", local_env)
    assert "verdict: supported" in out
    assert "your chain said: Unit 3 trips on overspeed at 312.5 rpm." in out and "verdict: unsupported" in out


def test_mcp_example(local_env):
    out = run_example("mcp_agent.py", local_env)
    assert {"tool search:", "tool ask:", "tool verify:", "tool list_collections:"} <= set(
        line[: line.index(":") + 1] for line in out.splitlines() if line.startswith("tool "))
    assert "verdict: supported" in out and f"verirag://collections/{COLLECTION}/documents/" in out
