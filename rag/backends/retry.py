"""When and how long to wait before asking a model server again.

429, 500, 502, 503, 504 (and 408) are worth another attempt; the wait is exponential backoff with
full jitter, never shorter than what the server asked for in ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.settings import Settings

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff between attempts; the number of attempts is ``1 + profile.max_retries``."""

    # No defaults here: rag.settings owns them (llm_retry_*); see from_settings.
    base_s: float
    cap_s: float
    # A server asking for a longer wait than this is treated as unavailable now (fallback steps in).
    max_retry_after_s: float

    @classmethod
    def from_settings(cls, settings: "Settings | None" = None) -> "RetryPolicy":
        """The policy the settings configure; with none, the settings' defaults (no environment read)."""
        from rag.settings import Settings

        settings = settings if settings is not None else Settings.model_construct()
        return cls(base_s=settings.llm_retry_base_s, cap_s=settings.llm_retry_cap_s,
                   max_retry_after_s=settings.llm_retry_after_max_s)

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**retry)] for the ``retry``-th retry (0-based)."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * (2.0 ** retry)))


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date); None if absent."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            seconds = float(value) / 1000.0
            if math.isfinite(seconds):
                return max(0.0, seconds)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
