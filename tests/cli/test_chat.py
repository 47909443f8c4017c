"""`verirag chat` driven through a pseudo-terminal, as a person types into it: a question, a follow-up
that refers back, /sources, /verdict, /reset, an unknown command, then Ctrl-D. The model is the
DeepSeek wire-format server on loopback; the collection is real (the small samples, ingested here)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.api.helpers import ingest_small_samples
from tests.support.deepseek_server import DeepSeekWireServer, Reply, label_holding

MODEL = "deepseek-v4-flash"
PROMPT = b"you> "


def all_text(body: dict) -> str:
    return "\n".join(str(m.get("content") or "") for m in body["messages"])


def responder(body: dict) -> Reply:
    question = body["messages"][-1]["content"]
    if "Kaplan" in question:
        label = label_holding(all_text(body), "Kaplan")
        return Reply(reasoning="", content=f"Unit 3 is the Kaplan unit [{label}].")
    label = label_holding(all_text(body), "287.5")
    return Reply(reasoning="", content=f"Unit 3 trips at 287.5 rpm [{label}].")


class Terminal:
    """A child process on a pseudo-terminal: ``send`` a line, ``until`` some output appears."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.output = b""

    def until(self, marker: bytes, timeout_s: float = 180.0) -> str:
        """Everything read up to and including ``marker`` (a hang guard, not a timing assertion)."""
        deadline = time.monotonic() + timeout_s
        while marker not in self.output:
            if time.monotonic() > deadline or self.process.poll() is not None and not self._readable(0):
                raise AssertionError(f"no {marker!r} in the output:\n{self.output.decode(errors='replace')}")
            if self._readable(0.5):
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the child closed its side
                    break
        head, _, self.output = self.output.partition(marker)
        return (head + marker).decode(errors="replace").replace("\r\n", "\n")

    def _readable(self, timeout: float) -> bool:
        return bool(select.select([self.master], [], [], timeout)[0])

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        os.close(self.master)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, embedder):
    return ingest_small_samples(tmp_path_factory.mktemp("chat"), embedder)


def test_a_chat_session_in_a_terminal(data_dir, tmp_path):
    with DeepSeekWireServer(api_key="sk-test", responder=responder) as server:
        env = {**os.environ, "VERIRAG_DATA_DIR": str(data_dir), "VERIRAG_DEFAULT_MODEL": MODEL,
               "VERIRAG_PROFILES": json.dumps({MODEL: {"base_url": server.base_url, "max_retries": 0}}),
               "VERIRAG_VERIFY_JUDGE": "off", "DEEPSEEK_API_KEY": "sk-test",
               "VERIRAG_CONFIG": str(tmp_path / "none.toml"),
               "TERM": "dumb"}
        terminal = Terminal([sys.executable, "-c", "from cli.app import main; main()", "chat", "-c", "demo"], env)
        try:
            assert "Ctrl-D to leave" in terminal.until(PROMPT)
            terminal.send("Which unit is the Kaplan unit?\n")
            first = terminal.until(PROMPT)
            assert "Unit 3 is the Kaplan unit [S" in first and "verdict:" in first

            terminal.send("At what speed does it trip?\n")
            second = terminal.until(PROMPT)
            assert "(searched for: At what speed does it trip? (" in second  # "it" resolved for retrieval
            assert "287.5 rpm" in second
            prompts = server.chat_bodies
            before, after = prompts[-2]["messages"], prompts[-1]["messages"]
            assert after[: len(before)] == before  # the second prompt extends the first

            terminal.send("/sources\n")
            sources = terminal.until(PROMPT)
            assert "(earlier)" in sources or "(again)" in sources
            terminal.send("/verdict\n")
            assert "Verdict:" in terminal.until(PROMPT)
            terminal.send("/frobnicate\n")
            assert "unknown command /frobnicate" in terminal.until(PROMPT)
            terminal.send("/reset\n")
            assert "a new conversation" in terminal.until(PROMPT)
            terminal.send("At what speed does Unit 3 trip?\n")
            fresh = terminal.until(PROMPT)
            assert "searched for" not in fresh
            assert len(server.chat_bodies[-1]["messages"]) == 2  # instructions and the question: nothing earlier

            terminal.send("\x04")  # Ctrl-D
            assert terminal.process.wait(timeout=60) == 0
        finally:
            terminal.close()
