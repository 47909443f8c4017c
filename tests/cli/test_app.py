"""The `verirag` command itself: -h, --version, and a start-up that loads no command's heavy modules."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version


def run(*args: str, code: str = "from cli.app import main; main()") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRAG_")}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)


def test_version_and_short_help():
    assert run("--version").stdout.strip() == f"verirag {version('verirag')}"
    short, long = run("-h"), run("--help")
    assert short.returncode == long.returncode == 0
    assert short.stdout == long.stdout and "ask" in short.stdout and "ingest" in short.stdout


def test_registering_every_command_imports_no_model_client_parser_or_llama_index():
    probe = ("import sys; from cli.app import _register_plugins; _register_plugins(); "
             "print(sorted(m for m in ('llama_index.core', 'openai', 'unstructured', 'torch', 'llama_cpp') "
             "if m in sys.modules))")
    result = run(code=probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_help_texts_keep_their_bracketed_words():
    result = run("eval", "compare", "--help")
    assert result.returncode == 0 and "[fail_if]" in result.stdout
