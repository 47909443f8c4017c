"""Request limits: an in-process token bucket for each key, and one for each client address that
keeps sending bad keys.

A bucket holds at most ``burst`` tokens and refills at ``per_minute / 60`` tokens a second; each
request takes one. An empty bucket answers with the seconds until the next token (Retry-After).
In-process means per server process: run several workers and each keeps its own buckets.

:class:`FailedAuthThrottle` spends a token only on a failed authentication, and while an address's
bucket is empty every request from it that needs a key is refused before its key is looked at, so a
correct guess made while throttled is refused like a wrong one.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBucketLimiter:
    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic):
        if per_minute < 0:
            raise ValueError(f"per_minute must be 0 (no limit) or more, got {per_minute}")
        if burst < 1:
            raise ValueError(f"burst must be 1 or more, got {burst}")
        self.rate_per_s = per_minute / 60.0
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when last refilled)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def acquire(self, key: str) -> float:
        """0.0 when the request may go ahead, else the seconds to wait for a token."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate_per_s

    def wait(self, key: str) -> float:
        """What :meth:`acquire` would answer, without taking a token."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s

    def _tokens(self, key: str, now: float) -> float:
        """The tokens ``key``'s bucket holds at ``now`` (refilled since its last use); hold the lock."""
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate_per_s)

    def forget_full(self) -> int:
        """Drop the buckets that have refilled: they hold nothing a new bucket would not. The number dropped."""
        now = self._clock()
        with self._lock:
            full = [key for key, (tokens, last) in self._buckets.items()
                    if tokens + (now - last) * self.rate_per_s >= self.burst]
            for key in full:
                del self._buckets[key]
            return len(full)

    def __len__(self) -> int:
        return len(self._buckets)


class FailedAuthThrottle:
    """Failed authentications per client address: ``burst`` of them at once, then ``per_minute``."""

    # Addresses come and go (a scan from many addresses): past this many buckets the full ones go.
    MAX_TRACKED = 10_000

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self._bucket = TokenBucketLimiter(per_minute, burst, clock)

    @property
    def enabled(self) -> bool:
        return self._bucket.enabled

    def wait(self, address: str) -> float:
        """0.0 when ``address`` may try a key now, else the seconds until it may."""
        return self._bucket.wait(address)

    def failed(self, address: str) -> None:
        if len(self._bucket) >= self.MAX_TRACKED:
            self._bucket.forget_full()
        self._bucket.acquire(address)
