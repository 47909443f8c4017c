"""Documents are parsed in a child process under memory and time limits, never in the caller.

A hostile or broken document can make the parsing libraries use gigabytes of memory, run for
minutes, or crash in native code. In-process, that takes the API server or the whole ``verirag
ingest`` batch down with it, and a resumed job would parse the same file into the same crash. Here a
long-lived child (:mod:`ingest.parse_child`) parses one document at a time, and:

* **over ``parse_memory_mb``**: the child's allocations fail; that document fails with a reason
  naming the limit and ``VERIRAG_PARSE_MEMORY_MB``, and the child is replaced;
* **over ``parse_timeout_s``** of CPU time (the kernel stops the child), or ``WALL_CLOCK_FACTOR`` times that
  in wall-clock time (the parent kills it): that document fails naming ``VERIRAG_PARSE_TIMEOUT_S``;
* **a crash** (a signal, an exit): that document fails with the signal named.

Each is a :class:`ParseError` like any unreadable file: recorded as that document's final outcome,
never retried, and the next document gets a fresh child (started at its first request).

**Cancelling** (Ctrl-C in ``verirag ingest``): :meth:`ParseWorker.cancel`, from any thread, kills the
child while a parse is in progress; that parse raises :class:`ParseCancelled`, which is no verdict on
the document, and the next parse starts a fresh child. With no parse in progress it does nothing.

Cost: the child imports the parsing libraries once (a second or two, as the first in-process parse
did) and each document's text travels back through a socket. One worker per set of limits is shared
by every ingest run of the process (``parse_worker_for``); its lock serialises requests.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from rag.backends.local_worker import signal_name
from rag.children import EXIT_WAIT_S, WorkerRegistry, exit_status, spawn, stop
from ingest.archive_limits import ArchiveLimits
from ingest.parse import ParsedDocument, ParseError

log = logging.getLogger(__name__)

DEFAULT_PARSER = "ingest.parse:parse_file"
# Importing unstructured on a busy 2-core machine takes seconds; this bounds a child that never starts.
START_TIMEOUT_S = 180.0
# The time limit counts CPU seconds; a parse that uses none (stuck on I/O, or starved on a machine
# this many times oversubscribed) is stopped by the wall clock.
WALL_CLOCK_FACTOR = 4.0


@dataclass(frozen=True)
class ParseLimits:
    timeout_s: float
    memory_mb: int
    archive: ArchiveLimits

    @classmethod
    def from_settings(cls, settings) -> "ParseLimits":
        return cls(settings.parse_timeout_s, settings.parse_memory_mb, ArchiveLimits.from_settings(settings))


class ParseWorkerError(RuntimeError):
    """The child could not be started at all (not the fault of one document)."""


class ParseCancelled(ParseError):
    """The parse was cancelled (:meth:`ParseWorker.cancel`): says nothing about the document."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"parsing {path.name} was cancelled")


class ParseWorker:
    """One child process parsing documents under ``limits`` (see the module's rules)."""

    def __init__(self, limits: ParseLimits, parser: str = DEFAULT_PARSER) -> None:
        self.limits = limits
        self.parser = parser
        self.lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._busy = False  # a parse is in progress
        self._cancelled = False  # set by cancel() during a parse; cleared when the next one starts
        self.starts = 0  # children started, replacements included

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def parse(self, path: Path) -> ParsedDocument:
        """The parsed document, or ParseError saying why not (a limit, a crash, an unreadable file)."""
        with self.lock:
            self._cancelled, self._busy = False, True
            try:
                return self._parse(path)
            finally:
                self._busy = False

    def _parse(self, path: Path) -> ParsedDocument:
        """One request to the child; the caller holds the lock."""
        self._ensure_started()
        self._stop_if_cancelled(path)
        assert self._conn is not None
        try:
            self._conn.send({"op": "parse", "path": str(path), "parser": self.parser, "limits": self.limits})
            answered = self._conn.poll(self.limits.timeout_s * WALL_CLOCK_FACTOR)
        except (EOFError, OSError):
            answered = True  # the child is gone: recv() below says so
        except BaseException:
            self._discard()  # interrupted mid-request: the child's state is unknown
            raise
        if not answered:
            self._discard()
            wall_s = self.limits.timeout_s * WALL_CLOCK_FACTOR
            raise ParseError(self._too_slow(path, f"{wall_s:g} s of wall-clock time"))
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self._stop_if_cancelled(path)
            raise ParseError(self._crashed(path)) from None
        except BaseException:
            self._discard()
            raise
        if kind == "memory":
            self._discard(wait_s=EXIT_WAIT_S)  # the child exits by itself after a memory failure
        if kind == "ok":
            return payload
        if kind == "memory":
            log.info("parsing %s ran out of memory: %s", path, payload)
            raise ParseError(
                f"parsing {path.name} needed more than the {self.limits.memory_mb} MiB memory limit and was "
                "stopped; raise VERIRAG_PARSE_MEMORY_MB if the document is genuine"
            )
        raise ParseError(payload)

    def cancel(self) -> None:
        """Stop the parse in progress, from any thread (a signal handler included): the child is
        killed, and that parse raises ParseCancelled. Without a parse in progress: nothing."""
        if not self._busy:
            return
        self._cancelled = True
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def _stop_if_cancelled(self, path: Path) -> None:
        if self._cancelled:
            self._cancelled = False
            self._discard()
            raise ParseCancelled(path)

    def close(self) -> None:
        with self.lock:
            if self._conn is not None and self.alive:
                try:
                    self._conn.send({"op": "exit"})
                except OSError:
                    pass
            self._discard(wait_s=EXIT_WAIT_S)

    # -- the child --------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self.alive:
            return
        self._discard()
        # Few malloc arenas: each thread's arena holds on to freed memory, which the memory cap counts.
        process, self._conn = spawn(["-m", "ingest.parse_child"], env={**os.environ, "MALLOC_ARENA_MAX": "2"})
        self._process = process
        self.starts += 1
        try:
            ready = self._conn.poll(START_TIMEOUT_S) and self._conn.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            code = process.poll()
            self._discard()
            if self._cancelled:
                return  # parse() raises ParseCancelled
            raise ParseWorkerError(
                f"the document parser process did not start (exit status {code}); run "
                f"`{sys.executable} -m ingest.parse_child` to see why"
            )
        log.debug("document parser pid %d started", process.pid)

    def _crashed(self, path: Path) -> str:
        process = self._process
        assert process is not None
        code = exit_status(process)
        self._discard()
        if code < 0 and signal_name(-code) == "SIGXCPU":
            log.error("document parser pid %d ran out of CPU time on %s", process.pid, path)
            return self._too_slow(path, f"{self.limits.timeout_s:g} s of CPU time")
        if code < 0 and signal_name(-code) == "SIGKILL":
            how = "was killed by SIGKILL (usually the kernel's out-of-memory killer)"
            advice = (f"lower VERIRAG_PARSE_MEMORY_MB (now {self.limits.memory_mb}) below what the machine has "
                      "free, so that such a file fails cleanly, or give the machine more memory")
        else:
            how = f"crashed with {signal_name(-code)}" if code < 0 else f"exited with status {code}"
            advice = ("a crash in a native parsing library usually means a damaged or hostile file; re-export "
                      f"it, or if it ran out of memory raise VERIRAG_PARSE_MEMORY_MB (now {self.limits.memory_mb})")
        log.error("document parser pid %d %s while parsing %s", process.pid, how, path)
        return f"the parser {how} while reading {path.name}, and the file was not retried: {advice}"

    def _too_slow(self, path: Path, limit: str) -> str:
        return (
            f"parsing {path.name} took longer than the limit of {limit} and was stopped; raise "
            f"VERIRAG_PARSE_TIMEOUT_S (now {self.limits.timeout_s:g}) if the document is genuine"
        )

    def _discard(self, wait_s: float = 0.0) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        stop(process, conn, wait_s)


_WORKERS: WorkerRegistry[tuple[ParseLimits, str], ParseWorker] = WorkerRegistry(lambda key: ParseWorker(*key))


def parse_worker_for(limits: ParseLimits, parser: str | None = None) -> ParseWorker:
    """The process-wide worker for these limits (created on first use, its child at the first parse)."""
    return _WORKERS.get((limits, parser or DEFAULT_PARSER))


def close_parse_workers() -> None:
    """Ends every child (at exit too, and in tests that want a cold start)."""
    _WORKERS.close_all()
