"""Deadlines per stage of a question, kept while the blocking pipeline runs on a worker thread.

The pipeline is synchronous and knows nothing of deadlines. Its stage hook (:class:`StageDeadlines`,
a rag.pipeline_hooks hook) tells a :class:`StageClock` which stage the worker thread is in
(retrieval → generation → verification, and generation again when the retry policy asks the
model again); the request's coroutine watches the clock and gives up with :class:`StageTimeout`
when the current stage has run past its limit. A stage's deadline starts when the worker thread
starts it: time spent waiting for a thread is ``queued`` and counts toward no stage.

Python cannot kill a thread. Work that is given up (deadline passed, client gone) is told so through
``clock.cancelled``: a stream stops at its next event (closing the model's stream), and the stage
hook raises :class:`RequestCancelled` before the next stage starts, so an
abandoned question stops at the latest when its current model call returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from concurrent.futures import Executor
from typing import Any, Awaitable, Callable, Iterator

from api.admission import GenerationSlot
from api.errors import StageTimeout
from rag.pipeline_hooks import PipelineHook

POLL_S = 0.25  # how often a waiting request looks at the clock (and whether its client is still there)
QUEUED = "queued"  # waiting for a worker thread: no deadline of its own (admission bounds the wait)
_local = threading.local()


class RequestCancelled(Exception):
    """The client is gone (or the request was given up): the work stops before its next stage."""


class ClientGone(RequestCancelled):
    """The client hung up while its question was being answered."""

    def __init__(self) -> None:
        super().__init__("the client closed the connection before the answer was complete")


class StageClock:
    def __init__(self, first_stage: str = "retrieval"):
        self._lock = threading.Lock()
        self.first_stage = first_stage
        self.stage = QUEUED
        self.started = time.monotonic()
        self.cancelled = threading.Event()

    def begin(self) -> None:
        """The worker thread picked the work up: the first stage's deadline starts now."""
        self.enter(self.first_stage)

    def enter(self, stage: str) -> None:
        with self._lock:
            self.stage, self.started = stage, time.monotonic()

    def overrun(self, limits: dict[str, float]) -> tuple[str, float, float]:
        """(stage, its limit, seconds left before the limit; ≤ 0 once it has run past it)."""
        with self._lock:
            stage, started = self.stage, self.started
        limit = limits.get(stage, float("inf"))
        return stage, limit, limit - (time.monotonic() - started)


def _mark(stage: str) -> None:
    clock = getattr(_local, "clock", None)
    if clock is not None:
        clock.enter(stage)


def _stop_if_cancelled() -> None:
    clock = getattr(_local, "clock", None)
    if clock is not None and clock.cancelled.is_set():
        raise RequestCancelled(f"stopped before the {clock.stage} stage ended: nobody waits for the answer")


class StageDeadlines(PipelineHook):
    """The pipeline's stages as the request's clock sees them: each stage marks the clock when it starts,
    and work nobody waits for any more stops before a stage starts and after one ends (so a retry does
    not ask the model again, and an answer nobody will read is not verified)."""

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        _stop_if_cancelled()
        _mark(name)
        yield
        _stop_if_cancelled()


def _in_clock(clock: StageClock, work: Callable[[], Any], slot: GenerationSlot | None = None) -> Callable[[], Any]:
    context = contextvars.copy_context()  # the request id follows the work into the thread

    def run() -> Any:
        if slot is not None:
            slot.hold()  # the question's slot stays taken while this thread works on it
        _local.clock = clock
        clock.begin()
        try:
            _stop_if_cancelled()  # given up while it waited for a thread
            return context.run(work)
        finally:
            _local.clock = None
            if slot is not None:
                slot.release()

    return run


async def run_with_deadlines(executor: Executor, work: Callable[[], Any], limits: dict[str, float],
                             first_stage: str = "retrieval", *, slot: GenerationSlot | None = None,
                             client_gone: Callable[[], Awaitable[bool]] | None = None) -> Any:
    """``work()`` on the executor; StageTimeout as soon as its current stage overruns its limit, and
    :class:`ClientGone` when ``client_gone()`` says the client hung up (checked every POLL_S)."""
    clock = StageClock(first_stage)
    future = asyncio.get_running_loop().run_in_executor(executor, _in_clock(clock, work, slot))
    try:
        while True:
            stage, limit, left = clock.overrun(limits)
            if left <= 0:
                raise StageTimeout(stage, limit)
            done, _ = await asyncio.wait({future}, timeout=min(left, POLL_S))
            if done:
                return future.result()
            if client_gone is not None and await client_gone():
                raise ClientGone()
    except BaseException:  # a deadline, a client gone, or this coroutine cancelled: the work is given up
        clock.cancelled.set()
        future.cancel()  # never starts if it still waits for a thread
        future.add_done_callback(_drop_result)
        raise


def _drop_result(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # retrieve it, so asyncio does not log "exception was never retrieved"


class DeadlineStream:
    """Events of a blocking generator, consumed from a coroutine, with stage deadlines.

    ``async for event in stream`` yields the generator's items, handed over from the worker thread
    through an asyncio queue; a stage overrun raises StageTimeout, an error in the generator is raised
    as it is, and ``("keepalive", None)`` is yielded after ``keepalive_s`` without an event (so the
    caller can keep proxies from closing the connection). Leaving the loop early (client gone,
    timeout) tells the worker to stop at its next event, which closes the generator.
    """

    def __init__(self, executor: Executor, events: Callable[[], Iterator[Any]], limits: dict[str, float],
                 keepalive_s: float = 15.0, slot: GenerationSlot | None = None):
        self.clock = StageClock("retrieval")
        self.limits = limits
        self.keepalive_s = keepalive_s
        self._executor = executor
        self._events = events
        self._slot = slot

    async def __aiter__(self):
        loop = asyncio.get_running_loop()
        handed: asyncio.Queue = asyncio.Queue()

        def hand_over(item: tuple[str, Any]) -> None:
            try:
                loop.call_soon_threadsafe(handed.put_nowait, item)
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                self.clock.cancelled.set()

        def produce() -> None:
            generator = self._events()
            try:
                for item in generator:
                    hand_over(("event", item))
                    if self.clock.cancelled.is_set():
                        break
            except BaseException as error:  # handed to the consumer, which decides what it means
                hand_over(("error", error))
            finally:
                generator.close()
                hand_over(("end", None))

        future = loop.run_in_executor(self._executor, _in_clock(self.clock, produce, self._slot))
        future.add_done_callback(_drop_result)
        last_event = time.monotonic()
        try:
            while True:
                stage, limit, left = self.clock.overrun(self.limits)
                if left <= 0:
                    raise StageTimeout(stage, limit)
                quiet = time.monotonic() - last_event
                if quiet >= self.keepalive_s:
                    last_event = time.monotonic()
                    yield ("keepalive", None)
                    continue
                try:
                    kind, payload = await asyncio.wait_for(handed.get(), min(left, POLL_S, self.keepalive_s - quiet))
                except asyncio.TimeoutError:
                    continue
                last_event = time.monotonic()
                if kind == "end":
                    return
                if kind == "error":
                    raise payload
                yield payload
        finally:  # also on GeneratorExit and CancelledError: the client is gone
            self.clock.cancelled.set()
            future.cancel()  # never starts if it still waits for a thread
