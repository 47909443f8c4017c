"""The child process that parses documents for :mod:`ingest.parse_worker`.

Started as ``python -P -m ingest.parse_child FD``; ``FD`` is one end of a socket pair spoken through
``multiprocessing.connection`` (pickles; both ends trusted: the parent made the pair).

Protocol, one request at a time:

* child → ``("ready", {"pid"})`` once the parser libraries are imported.
* parent → ``{"op": "parse", "path", "parser", "limits"}``; child → ``("ok", ParsedDocument)`` (pickled
  whole: its warnings and page count travel with the text),
  ``("error", message)`` when the file cannot be parsed (the child goes on), or ``("memory", message)``
  when the parse ran out of its memory budget (the child then exits: its heap is in an unknown state).
* parent → ``{"op": "exit"}`` or end of file on the socket: the child exits.

Limits: before each parse the child caps its private writable memory (``RLIMIT_DATA``: heap and
anonymous mappings, not the address space that libraries reserve and never touch) at what it uses
now plus ``limits.memory_mb``, so the budget means "what one document may add"; allocations beyond it
fail (``MemoryError``) instead of growing the machine's memory. Its CPU time (``RLIMIT_CPU``) is
capped at ``limits.timeout_s`` more than now: CPU seconds, not wall-clock ones, so that a busy machine
does not fail genuine documents; the kernel ends the child with SIGXCPU. A parse stuck without using
CPU is the parent's to stop (it kills the child).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable, Iterator

try:
    import resource
except ImportError:  # Windows: no memory cap, the time limit still applies
    resource = None  # type: ignore[assignment]

MEBIBYTE = 1 << 20
# Messages of native libraries that ran out of memory and raised instead of aborting.
OUT_OF_MEMORY_WORDS = ("memoryerror", "memory allocation failed", "out of memory", "cannot allocate memory")


def resolve_parser(reference: str) -> Callable:
    """``"module:function"`` → the function (the default is ``ingest.parse:parse_file``)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def data_bytes() -> int | None:
    """What RLIMIT_DATA counts now: the private writable memory (heap, anonymous mappings), Linux only."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@contextmanager
def budget(memory_mb: int, cpu_s: float) -> Iterator[None]:
    """While the block runs, allocations beyond ``memory_mb`` more than now fail and the kernel ends
    the process (SIGXCPU) once it used ``cpu_s`` more CPU seconds (Linux; elsewhere: the parent's
    wall-clock limit only)."""
    current = data_bytes()
    if resource is None or current is None:
        yield
        return
    saved = {kind: resource.getrlimit(kind) for kind in (resource.RLIMIT_DATA, resource.RLIMIT_CPU)}
    used = resource.getrusage(resource.RUSAGE_SELF)
    _lower(resource.RLIMIT_DATA, current + memory_mb * MEBIBYTE)
    _lower(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime + cpu_s) + 1)
    try:
        yield
    finally:
        for kind, limits in saved.items():
            resource.setrlimit(kind, limits)


def _lower(kind: int, soft: int) -> None:
    hard = resource.getrlimit(kind)[1]
    resource.setrlimit(kind, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def ran_out_of_memory(error: BaseException) -> bool:
    """A MemoryError, or a library error caused by one or saying so."""
    seen: BaseException | None = error
    while seen is not None:
        text = f"{type(seen).__name__} {seen}".lower()
        if isinstance(seen, MemoryError) or any(word in text for word in OUT_OF_MEMORY_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def handle(request: dict) -> tuple[tuple, bool]:
    """One parse request → (reply, whether this child may take another)."""
    from ingest.parse import ParseError

    limits = request["limits"]
    parser = resolve_parser(request["parser"])
    try:
        with budget(limits.memory_mb, limits.timeout_s):
            document = parser(Path(request["path"]), limits.archive)
        return ("ok", document), True
    except ParseError as error:
        if ran_out_of_memory(error):
            return ("memory", str(error)), False
        return ("error", str(error)), True
    except BaseException as error:  # noqa: BLE001 - everything goes back to the parent as a reason
        if ran_out_of_memory(error):
            return ("memory", f"{type(error).__name__}: {error}"), False
        return ("error", f"could not parse the file ({type(error).__name__}: {str(error)[:200]})"), True


def main(fd: int) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when this child goes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if resource is not None:  # a SIGXCPU ends the child: no core dump of a parser's heap on disk
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    logging.basicConfig(level=logging.ERROR)  # pdfminer and friends warn per page otherwise
    conn = Connection(fd)
    from ingest.parse import prepare_parser

    prepare_parser()
    conn.send(("ready", {"pid": os.getpid()}))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request.get("op") != "parse":
            return
        reply, go_on = handle(request)
        try:
            conn.send(reply)
        except (OSError, MemoryError):
            return
        if not go_on:
            return


if __name__ == "__main__":
    main(int(sys.argv[1]))
