"""A real ``verirag serve`` for the browser tests: a child process on a free loopback port, its model
the DeepSeek wire-format server of tests/support (running in the test process), its data in a
folder of its own. Its log is kept in ``server.log`` beside the data and printed when it fails."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx

from tests.support.deepseek_server import DeepSeekWireServer

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
MODEL = "deepseek-v4-flash"
START_TIMEOUT_S = 300  # a loaded 2-core machine has needed 90 s
JOB_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def verirag_command() -> list[str]:
    """The installed ``verirag`` beside this interpreter; else the same entry point through it."""
    script = shutil.which("verirag", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", "from cli.app import main; main()"]


class ServedVerirag:
    """``with ServedVerirag(folder, model_server, open_mode=True) as server: server.url``"""

    def __init__(self, folder: Path, model_server: DeepSeekWireServer, *, open_mode: bool = True,
                 env: dict[str, str] | None = None):
        self.folder = folder
        self.data_dir = folder / "data"
        self.log_path = folder / "server.log"
        self.model_server = model_server
        self.open_mode = open_mode
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRAG_")}
        env.update({
            "VERIRAG_CONFIG": str(self.folder / "no-config.toml"),  # no developer's verirag.toml
            "VERIRAG_DATA_DIR": str(self.data_dir),
            "VERIRAG_DEFAULT_COLLECTION": "demo",
            "VERIRAG_DEFAULT_MODEL": MODEL,
            "VERIRAG_PROFILES": json.dumps({MODEL: {"base_url": self.model_server.base_url, "max_retries": 0}}),
            "VERIRAG_VERIFY_JUDGE": "off",
            "VERIRAG_LLM_RETRY_BASE_S": "0.01",
            "VERIRAG_LLM_RETRY_CAP_S": "0.02",
            "DEEPSEEK_API_KEY": "sk-test",
            **self.extra_env,
        })
        return env

    def __enter__(self) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [*verirag_command(), "serve", "--port", str(self.port), "--log-level", "warning"]
        if self.open_mode:
            command.append("--open")
        log = self.log_path.open("w")
        self.process = subprocess.Popen(command, cwd=self.folder, env=self.environment(), stdout=log,
                                        stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"verirag serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"verirag serve did not answer /healthz in {START_TIMEOUT_S} s:\n{self.log()}")
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def upload(self, collection: str, paths: list[Path], headers: dict | None = None) -> dict:
        """Uploads through the API and waits for the ingest job to finish; the finished job."""
        files = [("files", (path.name, path.read_bytes())) for path in paths]
        response = httpx.post(f"{self.url}/v1/collections/{collection}/documents", files=files,
                              headers=headers or {}, timeout=60)
        response.raise_for_status()
        status_url = self.url + response.json()["status_url"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while True:
            job = httpx.get(status_url, headers=headers or {}, timeout=10).json()
            if job["state"] in ("succeeded", "failed"):
                return job
            if time.monotonic() > deadline:
                raise RuntimeError(f"ingest job still {job['state']} after {JOB_TIMEOUT_S} s:\n{self.log()}")
            time.sleep(0.3)
