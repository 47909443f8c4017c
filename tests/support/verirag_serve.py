"""A real `verirag serve` in a child process on a free loopback port, for tests of what talks to the API over
HTTP (the Python client, the integrations pointed at a remote verirag). Its model is a DeepSeek wire-format
server in the test process; its keys are made with `verirag keys create`, so the server requires them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CLI = "from cli.app import main; main()"
# The installed `verirag` beside this interpreter, as users run it. Its commands come from the installed
# entry points; `python -c` run in the repository would read a verirag.egg-info left there by an older build.
_SCRIPT = Path(sys.executable).with_name("verirag")
VERIRAG = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", CLI]
MODEL = "deepseek-v4-flash"
# A hang guard, not a timing: a loaded 2-core machine has taken minutes to import and start the server.
START_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def verirag_environment(data_dir: Path, model_base_url: str, collection: str) -> dict[str, str]:
    """The child's environment: this data directory, the loopback model, no verirag.toml or VERIRAG_* of the
    developer's, no rate limit (tests send bursts), no LLM judge (its model would be the scripted one)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VERIRAG_")}
    env.update({
        "VERIRAG_CONFIG": str(data_dir / "no-config.toml"),
        "VERIRAG_DATA_DIR": str(data_dir),
        "VERIRAG_DEFAULT_COLLECTION": collection,
        "VERIRAG_DEFAULT_MODEL": MODEL,
        "VERIRAG_PROFILES": json.dumps({MODEL: {"base_url": model_base_url, "max_retries": 0}}),
        "VERIRAG_VERIFY_JUDGE": "off",
        "VERIRAG_LLM_RETRY_BASE_S": "0.01",
        "VERIRAG_LLM_RETRY_CAP_S": "0.02",
        "VERIRAG_API_RATE_LIMIT_PER_MINUTE": "0",
        "DEEPSEEK_API_KEY": "sk-test",
    })  # fmt: skip
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([*VERIRAG, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def create_key(env: dict[str, str], collection: str, scope: str) -> str:
    result = run_cli(env, "keys", "create", "--collection", collection, "--scope", scope)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[0]


class ServedVerirag:
    """``with ServedVerirag(data_dir, model_server.base_url) as served``: ``served.url``, ``served.key`` (admin on
    the collection), ``served.other_key`` (read on another collection only)."""

    def __init__(self, data_dir: Path, model_base_url: str, collection: str = "demo",
                 extra_env: dict[str, str] | None = None):
        self.env = {**verirag_environment(data_dir, model_base_url, collection), **(extra_env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = create_key(self.env, collection, "admin")
        self.other_key = create_key(self.env, "elsewhere", "read")
        self._log = data_dir / "serve.log"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> "ServedVerirag":
        log = self._log.open("w")
        self._process = subprocess.Popen(
            [*VERIRAG, "serve", "--port", str(self.port), "--log-level", "warning"],
            env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"verirag serve exited with {self._process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"verirag serve did not start in {START_TIMEOUT_S} s:\n{self.log()}")
            time.sleep(0.2)

    def log(self) -> str:
        return self._log.read_text(errors="replace")[-4000:]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def kill(self) -> None:
        """SIGKILL, as a crashed machine or an OOM kill would end it: nothing runs on the way out."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
