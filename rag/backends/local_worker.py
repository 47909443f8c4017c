"""The in-process model in a child process: a crash in llama.cpp fails one request, never the caller.

llama-cpp-python runs native code (ggml) that can die with SIGSEGV or SIGILL — a build whose instructions
the CPU or the VM does not really support (AMX tiles advertised by cpuid, an AVX-512 wheel reused on an
older CPU), a corrupt GGUF. In-process, that kills the API server or ``verirag ask`` with it. Here each
loaded model lives in a long-lived child (:mod:`rag.backends.local_child`) and requests travel over a
socket pair; tokens stream back as the model samples them.

Rules:

* **One worker per (GGUF path, n_ctx, n_threads, chat format)**, shared by every backend and thread of the
  process (``worker_for``): the model is loaded once per key, as in-process. Its lock serialises requests
  (a stream holds it until it ends or its consumer closes it), as a ``Llama`` object is not thread-safe.
* **Started lazily**, at the first request for its key; **restarted at the next request** after it died.
* **A worker that dies during a request** (a signal, an exit) fails that request with
  :class:`WorkerCrashedError` — a ``ModelUnavailableError`` (so a profile's ``fallback`` steps in and the
  API answers 503) whose message names the profile, the worker's pid and the signal, and says what to do.
  Nothing else is affected: retrieval and other profiles keep serving.
* **A worker silent for ``profile.timeout_s``** (no token, no answer) is killed: ``ModelUnavailableError``.
* A stream closed early asks the worker to stop sampling and waits for it (the worker stays loaded); a
  worker that does not stop in time, or a request interrupted by anything unexpected in this process
  (KeyboardInterrupt…), is killed rather than left in an unknown state.
* The child exits when this process closes the socket or dies; ``close_workers`` (also at exit) ends them.
  A forked copy of this process forgets its parent's workers and starts its own.

Cost: one copy of each prompt and token through a socket, and the child's start (Python, llama-cpp's
import, the model load) once per process. ``bench/first_answer.py`` (part 2) measured no difference per
answer (0.96× the in-process time over the same prompts) and ≈ 0.4 s more at the start.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rag.backends.base import ModelUnavailableError, where
from rag.children import EXIT_WAIT_S, WorkerRegistry, exit_status, spawn, stop
from rag.profiles import ModelProfile

__all__ = ["ChildError", "ModelWorker", "WorkerCrashedError", "WorkerKey", "close_workers", "signal_name",
           "worker_for"]

log = logging.getLogger(__name__)

CHILD_SCRIPT = Path(__file__).with_name("local_child.py")
CANCEL_WAIT_S = 30.0  # how long a closed stream waits for the worker to stop sampling before killing it
# What a death usually means here, and the fix: named in every crash message.
NATIVE_CRASH_ADVICE = (
    "llama.cpp crashed in native code (often a build whose instructions this CPU or VM does not support, "
    "such as AMX or AVX-512, or a damaged GGUF); the next request starts a new worker. If it keeps crashing, "
    "rebuild llama-cpp-python for this CPU without -march=native (scripts/setup.sh), or use a profile served "
    "by a llama.cpp server"
)
KILLED_ADVICE = (
    "it was killed from outside (often the kernel's out-of-memory killer: check the machine's memory and the "
    "profile's context_window); the next request starts a new worker"
)
NATIVE_SIGNALS = frozenset({"SIGSEGV", "SIGILL", "SIGBUS", "SIGFPE", "SIGABRT", "SIGSYS", "SIGTRAP"})


def crash_advice(signal_name: str | None) -> str:
    return KILLED_ADVICE if signal_name in ("SIGKILL", "SIGTERM") else NATIVE_CRASH_ADVICE


@dataclass(frozen=True)
class WorkerKey:
    path: str  # resolved GGUF path
    n_ctx: int
    n_threads: int  # 0: chosen per request from the idle CPUs (rag.backends.threads)
    chat_format: str | None


class WorkerCrashedError(ModelUnavailableError):
    """The worker process died during the request; ``signal`` is the signal's name when one killed it."""

    def __init__(self, message: str, *, signal: str | None = None, exit_code: int | None = None,
                 pid: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.signal = signal
        self.exit_code = exit_code
        self.pid = pid


class ChildError(Exception):
    """llama-cpp raised inside the worker (the worker is fine): ``kind`` is load, request or internal."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class ModelWorker:
    """One child process holding one loaded model (see the module's rules)."""

    def __init__(self, key: WorkerKey) -> None:
        self.key = key
        self.lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self.load_s: float | None = None
        self.starts = 0  # how many children this worker has started (restarts included)

    # -- life -------------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ensure_started(self, profile: ModelProfile) -> None:
        """Starts the child and loads the model unless a live one is here. Call with ``lock`` held.
        Raises ChildError("load") when llama.cpp cannot load the file, WorkerCrashedError when it dies."""
        if self.alive:
            return
        self._discard()
        process, self._conn = spawn([str(CHILD_SCRIPT)])
        self._process = process
        self.starts += 1
        started = time.perf_counter()
        try:
            self._conn.send({"op": "load", "path": self.key.path, "n_ctx": self.key.n_ctx,
                             "n_threads": self.key.n_threads, "chat_format": self.key.chat_format})
            kind, *payload = self._receive(profile, "loading the model")
        except BaseException:
            self._discard()
            raise
        if kind != "ready":
            self._discard()
            raise ChildError(payload[0], payload[1]) if kind == "error" else ChildError("load", repr(payload))
        self.load_s = payload[0]["load_s"]
        log.info("worker pid %d loaded %s (n_ctx=%d, threads %s) in %.2f s (%.2f s with the start)",
                 process.pid, self.key.path, self.key.n_ctx, self.key.n_threads or "per request", self.load_s,
                 time.perf_counter() - started)

    def close(self) -> None:
        """Asks the child to exit and waits briefly; kills it if it does not (or if a request still holds
        the worker after a second: at exit, an abandoned stream must not keep the process alive)."""
        held = self.lock.acquire(timeout=1.0)
        try:
            if held and self._conn is not None and self.alive:
                try:
                    self._conn.send({"op": "exit"})
                except OSError:
                    pass
            self._discard(wait_s=EXIT_WAIT_S if held else 0.0)
        finally:
            if held:
                self.lock.release()

    def _discard(self, wait_s: float = 0.0) -> None:
        """Forgets the child: closes the socket (the child exits on end of file), kills it if needed."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        stop(process, conn, wait_s)

    # -- talking --------------------------------------------------------------------------------------
    def _receive(self, profile: ModelProfile, doing: str) -> tuple:
        """The next message, or the crash/timeout error (the worker is then discarded)."""
        conn, process = self._conn, self._process
        assert conn is not None and process is not None, "ensure_started first"
        try:
            if conn.poll(profile.timeout_s):
                return conn.recv()
        except (EOFError, OSError):
            pass
        else:
            pid = process.pid
            self._discard()
            raise ModelUnavailableError(
                f"{where(profile, None)}: the llama.cpp worker (pid {pid}) sent nothing for {profile.timeout_s:g} s "
                f"while {doing} and was stopped; raise timeout_s in the profile if the model is that slow here, "
                "or lower max_output_tokens", profile=profile.name)
        raise self._crashed(profile, doing)

    def _crashed(self, profile: ModelProfile, doing: str) -> WorkerCrashedError:
        process = self._process
        assert process is not None
        code = exit_status(process)
        pid = process.pid
        self._discard()
        if code < 0:
            name = signal_name(-code)
            how, sig, exit_code = f"was killed by {name} (signal {-code})", name, None
        else:
            how, sig, exit_code = f"exited with status {code}", None, code
        log.error("llama.cpp worker pid %d for %s %s while %s", pid, profile.name, how, doing)
        return WorkerCrashedError(
            f"{where(profile, None)}: the llama.cpp worker (pid {pid}) {how} while {doing}; {crash_advice(sig)}",
            profile=profile.name, signal=sig, exit_code=exit_code, pid=pid)

    def complete(self, profile: ModelProfile, kwargs: dict[str, Any], raise_signal: int | None = None) -> dict:
        """One whole chat completion (llama-cpp's response dict)."""
        with self.lock:
            self.ensure_started(profile)
            try:
                self._conn.send({"op": "chat", "kwargs": kwargs, "stream": False, "raise_signal": raise_signal})
                kind, *payload = self._receive(profile, "generating")
            except (ModelUnavailableError, ChildError):
                raise
            except BaseException:
                self._discard()  # interrupted mid-request: the worker's state is unknown
                raise
        if kind == "error":
            raise ChildError(payload[0], payload[1])
        return payload[0]

    def stream(self, profile: ModelProfile, kwargs: dict[str, Any], raise_signal: int | None = None
               ) -> Iterator[tuple[str, Any]]:
        """``("chunk", chunk)``… then ``("end", counts)``; the lock is held until the stream ends or closes."""
        with self.lock:
            self.ensure_started(profile)
            finished = False
            try:
                self._conn.send({"op": "chat", "kwargs": kwargs, "stream": True, "raise_signal": raise_signal})
                while True:
                    kind, *payload = self._receive(profile, "generating")
                    if kind == "chunk":
                        yield "chunk", payload[0]
                        continue
                    finished = True
                    if kind == "error":
                        raise ChildError(payload[0], payload[1])
                    yield "end", payload[0]
                    return
            except GeneratorExit:
                if not finished:
                    self._cancel(profile)
                raise
            except (ModelUnavailableError, ChildError):
                raise
            except BaseException:
                self._discard()
                raise

    def _cancel(self, profile: ModelProfile) -> None:
        """The consumer stopped reading: stop the worker's sampling and skip what it already sent."""
        conn = self._conn
        if conn is None:
            return
        try:
            conn.send({"op": "cancel"})
            deadline = time.monotonic() + CANCEL_WAIT_S
            while time.monotonic() < deadline:
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    break
                if conn.recv()[0] in ("end", "cancelled", "error"):
                    return
        except (EOFError, OSError):
            pass
        log.warning("llama.cpp worker for %s did not stop after a cancelled stream; restarting it", profile.name)
        self._discard()


_WORKERS: WorkerRegistry[WorkerKey, ModelWorker] = WorkerRegistry(ModelWorker)


def worker_for(key: WorkerKey) -> ModelWorker:
    """The process-wide worker for ``key`` (created on first use, not yet started)."""
    return _WORKERS.get(key)


def close_workers() -> None:
    """Ends every worker (at exit too, and in tests that want a cold start)."""
    _WORKERS.close_all()

