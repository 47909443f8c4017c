"""A progress bar on a terminal (files, chunks, chunks/s); plain log lines everywhere else."""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger("ingest")
LOG_EVERY_S = 5.0


class Progress:
    def __init__(self, total: int, enabled: bool | None, label: str):
        self.total = total
        self.interactive = sys.stderr.isatty() if enabled is None else enabled
        self.label = label
        self.files = 0
        self.chunks = 0
        self.started = time.perf_counter()
        self._last_log = self.started
        self._bar: tqdm | None = None

    def __enter__(self) -> "Progress":
        if self.interactive:
            self._bar = tqdm(total=self.total, unit="file", desc=f"ingest {self.label}", file=sys.stderr)
        return self

    def advance(self, files: int = 0, chunks: int = 0) -> None:
        self.files += files
        self.chunks += chunks
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = self.chunks / elapsed
        if self._bar is not None:
            self._bar.update(files)
            self._bar.set_postfix(chunks=self.chunks, chunks_per_s=f"{rate:.1f}")
        elif time.perf_counter() - self._last_log >= LOG_EVERY_S or self.files == self.total:
            self._last_log = time.perf_counter()
            log.info("ingest %s: %d/%d files, %d chunks, %.1f chunks/s", self.label, self.files, self.total, self.chunks, rate)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
