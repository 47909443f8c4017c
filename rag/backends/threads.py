"""How many CPU threads llama.cpp gets for one request when ``llm_threads`` is unset.

llama.cpp's threads meet at a barrier after every operation, so a thread that other work deschedules
stalls them all: on the 2-core machines here, with another job holding a core, 2 threads answered 3–4×
slower than 1 (bench/first_answer.py, part 3). On an idle machine every core helps: reading a 966-token
prompt took 8.1 s on 1 thread and 4.5 s on 2.

So the count is chosen per request from what the CPUs did just before it (``idle_cpus``: two readings of
``/proc/stat`` ``IDLE_WINDOW_S`` apart), not once per process from the 1-minute load average, which still
counts the previous answer for a minute after it ended and so gave back-to-back questions one thread on an
idle machine. Where ``/proc/stat`` cannot be read, the load average decides (``free_cpus``).

Standard library only: the model's worker process imports this before it has anything else.
"""

from __future__ import annotations

import os
import time

__all__ = ["IDLE_WINDOW_S", "MAX_AUTO_THREADS", "apply_request_threads", "auto_thread_cap", "free_cpus", "idle_cpus",
           "idle_share", "request_threads", "usable_cpus"]

MAX_AUTO_THREADS = 8
IDLE_WINDOW_S = 0.1


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_thread_cap() -> int:
    """The most threads an automatic choice gives one request: every usable CPU, at most 8."""
    return max(1, min(MAX_AUTO_THREADS, usable_cpus()))


def free_cpus(cpus: int | None = None, load: float | None = None) -> int:
    """CPUs that other work leaves free: ``cpus`` minus the 1-minute load average, rounded, at least 1."""
    cpus = usable_cpus() if cpus is None else cpus
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cpus, round(cpus - load)))


def _cpu_times(stat_path: str) -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs from the first line of /proc/stat."""
    with open(stat_path, encoding="ascii") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already inside user and nice]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return idle, sum(fields[:8])


def idle_cpus(window_s: float = IDLE_WINDOW_S, stat_path: str = "/proc/stat") -> float | None:
    """How many of the machine's CPUs sat idle over the next ``window_s`` seconds; None where the OS
    does not say (no /proc/stat)."""
    try:
        idle_0, total_0 = _cpu_times(stat_path)
        time.sleep(window_s)
        idle_1, total_1 = _cpu_times(stat_path)
    except (OSError, ValueError, IndexError):
        return None
    return idle_share((idle_0, total_0), (idle_1, total_1), os.cpu_count() or 1)


def idle_share(before: tuple[int, int], after: tuple[int, int], cpus: int) -> float | None:
    """CPUs idle between two (idle, total) readings of /proc/stat; None when no time passed between them."""
    idle = after[0] - before[0]
    total = after[1] - before[1]
    if total <= 0:
        return None
    return cpus * max(0, idle) / total


def request_threads(cap: int, idle: float | None = None) -> int:
    """Threads for one request: the CPUs idle right now (``idle``, measured when not given), rounded,
    between 1 and ``cap``; the load average's answer where idleness cannot be measured."""
    if idle is None:
        idle = idle_cpus()
    if idle is None:
        return max(1, min(cap, free_cpus()))
    return max(1, min(cap, round(idle)))


def apply_request_threads(llama: object, fixed: int | None) -> int:
    """Sets a loaded ``llama_cpp.Llama``'s threads for the next request: ``fixed`` when the settings pin
    it, else ``request_threads`` up to ``auto_thread_cap()``. Returns the count."""
    if fixed:
        return fixed
    import llama_cpp

    threads = request_threads(auto_thread_cap())
    llama_cpp.llama_set_n_threads(llama.ctx, threads, threads)  # type: ignore[attr-defined]
    return threads
