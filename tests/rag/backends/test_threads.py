"""How many threads llama.cpp gets per request when ``llm_threads`` is unset (rag.backends.threads)."""

from __future__ import annotations

import os

import pytest

from rag.backends import threads
from rag.backends.threads import free_cpus, idle_share, request_threads


def test_the_load_average_fallback_counts_the_cpus_other_work_leaves_free():
    assert free_cpus(cpus=2, load=0.1) == 2  # an idle machine: every core
    assert free_cpus(cpus=2, load=1.2) == 1
    assert free_cpus(cpus=2, load=6.0) == 1  # never fewer than one
    assert free_cpus(cpus=16, load=3.4) == 13


def test_idle_cpus_are_the_idle_share_of_the_time_between_two_readings():
    assert idle_share((100, 1000), (300, 1200), cpus=2) == 2.0  # all 200 jiffies idle
    assert idle_share((100, 1000), (200, 1200), cpus=2) == 1.0  # one core busy
    assert idle_share((100, 1000), (100, 1200), cpus=4) == 0.0
    assert idle_share((100, 1000), (100, 1000), cpus=2) is None  # no time passed: unknown


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="measured from /proc/stat, which this OS lacks")
def test_idle_cpus_read_from_this_machine_lie_between_none_and_all():
    idle = threads.idle_cpus(window_s=0.05)
    assert idle is not None and 0.0 <= idle <= (os.cpu_count() or 1) + 1e-9


def test_a_request_gets_the_idle_cpus_rounded_within_one_and_the_cap():
    assert request_threads(2, idle=1.9) == 2  # back-to-back questions on an idle machine: both cores
    assert request_threads(2, idle=1.3) == 1  # another job holds most of a core: one thread
    assert request_threads(2, idle=0.1) == 1  # never fewer than one
    assert request_threads(8, idle=15.7) == 8  # never more than the cap


def test_without_an_idle_reading_the_load_average_decides(monkeypatch):
    monkeypatch.setattr(threads, "idle_cpus", lambda: None)
    monkeypatch.setattr(threads, "free_cpus", lambda: 3)
    assert request_threads(8) == 3
    assert request_threads(2) == 2
