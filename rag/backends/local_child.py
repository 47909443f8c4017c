"""The child process that runs a GGUF model for :mod:`rag.backends.local_worker`.

Started as ``python -P local_child.py FD`` (never imported as part of ``rag`` in the child: it needs only
the standard library and llama-cpp-python, so it starts fast and a crash in native code takes down this
process alone). ``FD`` is one end of a socket pair, spoken through ``multiprocessing.connection``
(length-prefixed pickles, both ends trusted: the parent made the pair).

Protocol, one request at a time:

* parent → ``{"op": "load", "path", "n_ctx", "n_threads", "chat_format"}`` once (``n_threads`` 0: chosen
  before each request from the CPUs idle then, rag.backends.threads); child →
  ``("ready", {"load_s", "pid"})`` or ``("error", "load", message)`` (and exits).
* parent → ``{"op": "chat", "kwargs", "stream", "raise_signal"}``; child → ``("result", response)`` for a
  whole answer, or ``("chunk", chunk)``… then ``("end", counts)`` for a stream; ``("error", kind, message)``
  when llama-cpp raised (kind ``request`` for a ValueError such as a prompt over the window, else
  ``internal``). ``counts`` is ``{"prompt_tokens", "samples"}`` from :class:`TokenCounter`.
* parent → ``{"op": "cancel"}`` while a stream runs: the child stops sampling and answers
  ``("cancelled", counts)``. A cancel that arrives after the stream ended is ignored.
* parent → ``{"op": "exit"}`` or end of file on the socket (the parent closed it or died): the child exits.

``raise_signal`` (tests only, from ``profile.extra["test_crash_signal"]``): the child sends itself that
signal before generating, as a crash inside ggml would, so the parent's handling of a dead worker can be
tested without a broken build. SIGINT is ignored here: Ctrl-C in a terminal reaches the whole process
group, and the parent, not this child, decides when the model goes away.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

__all__ = ["TokenCounter", "main"]


class TokenCounter:
    """A pass-through logits processor that counts what a llama-cpp stream does not report.

    It runs once per sampled token; at the first call ``input_ids`` is the evaluated prompt.
    """

    def __init__(self) -> None:
        self.prompt_tokens: int | None = None
        self.samples = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        self.samples += 1
        return scores

    def counts(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens or 0, "samples": self.samples}


def _load(request: dict) -> Any:
    from llama_cpp import Llama

    from rag.backends.threads import auto_thread_cap

    threads = request["n_threads"] or auto_thread_cap()
    # n_threads_batch (prompt processing) defaults to every CPU in llama-cpp-python: keep it to the
    # configured count too, or a "1 thread" model still takes the whole machine per prompt.
    return Llama(model_path=request["path"], n_ctx=request["n_ctx"], n_threads=threads, n_threads_batch=threads,
                 chat_format=request["chat_format"], verbose=False)


def _cancelled(conn: Any) -> bool:
    """True when the parent asked to stop this stream (other messages cannot arrive mid-stream)."""
    while conn.poll():
        if conn.recv().get("op") == "cancel":
            return True
    return False


def _chat(conn: Any, llama: Any, request: dict, fixed_threads: int) -> None:
    sig = request.get("raise_signal")
    if sig:
        os.kill(os.getpid(), int(sig))
        time.sleep(5)  # a signal that does not kill (ignored, handled) leaves us here: say so below
        conn.send(("error", "internal", f"signal {sig} did not end the worker"))
        return
    from rag.backends.citation_grammar import llama_kwargs
    from rag.backends.threads import apply_request_threads

    try:
        apply_request_threads(llama, fixed_threads)
        if not request.get("stream"):
            conn.send(("result", llama.create_chat_completion(**llama_kwargs(dict(request["kwargs"]), llama))))
            return
        counter = TokenCounter()
        kwargs = llama_kwargs(dict(request["kwargs"]), llama, [counter])
        chunks = llama.create_chat_completion(**kwargs, stream=True)
        try:
            for chunk in chunks:
                conn.send(("chunk", chunk))
                if _cancelled(conn):
                    conn.send(("cancelled", counter.counts()))
                    return
        finally:
            chunks.close()
        conn.send(("end", counter.counts()))
    except ValueError as exc:  # "Requested tokens (N) exceed context window of M"
        conn.send(("error", "request", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which names the profile
        conn.send(("error", "internal", f"{type(exc).__name__}: {exc}"))


def main(fd: int) -> int:
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        request = conn.recv()
        started = time.perf_counter()
        try:
            llama = _load(request)
        except Exception as exc:  # noqa: BLE001 - llama.cpp says little; the parent names the file and fix
            conn.send(("error", "load", f"{type(exc).__name__}: {exc}"))
            return 1
        conn.send(("ready", {"load_s": time.perf_counter() - started, "pid": os.getpid()}))
        fixed_threads = request["n_threads"]
        while True:
            request = conn.recv()
            op = request.get("op")
            if op == "exit":
                break
            if op == "chat":
                _chat(conn, llama, request, fixed_threads)
            # a stray "cancel" (the stream had already ended) needs no answer
    except (EOFError, OSError):  # the parent closed its end or died: nothing left to serve
        pass
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    code = main(int(sys.argv[1]))
    sys.stderr.flush()
    os._exit(code)  # skip interpreter shutdown: llama-cpp's destructors fail there, the OS frees the model
