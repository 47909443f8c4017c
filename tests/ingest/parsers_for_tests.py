"""Parsers the parse child runs in tests (``"tests.ingest.parsers_for_tests:NAME"``): the real parser,
except for files whose name says to misbehave, so a batch can mix good documents with one that
exceeds a limit. Each call is logged to ``$VERIRAG_TEST_PARSE_LOG`` when set, to count parses."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ingest.parse import parse_file


def _log(path: Path) -> None:
    log = os.environ.get("VERIRAG_TEST_PARSE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(path.name + "\n")


def misbehaving(path: Path, archive_limits):
    """``spin-*``: burns CPU forever; ``sleep-*``: waits forever; ``hog-*``: allocates without end;
    ``crash-*``: dies by SIGSEGV; anything else is parsed for real."""
    _log(path)
    if path.name.startswith("spin-"):
        while True:
            pass
    if path.name.startswith("sleep-"):
        time.sleep(3600)
    if path.name.startswith("hog-"):
        blocks = []
        while True:
            blocks.append(bytearray(16 << 20))
    if path.name.startswith("crash-"):
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
    return parse_file(path, archive_limits)
