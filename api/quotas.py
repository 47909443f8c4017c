"""Daily quotas per key: tokens and estimated cost per UTC day, answered 429 when spent.

The budget comes from the key (``verirag keys create --quota-tokens N --quota-cost USD``, changed with
``verirag keys quota``) or else from ``VERIRAG_API_QUOTA_TOKENS_PER_DAY`` and
``VERIRAG_API_QUOTA_COST_USD_PER_DAY``; 0 means unlimited, and a key's own 0 lifts the default for it.
Tokens are prompt + completion tokens of the answering model (the retry policy's second attempt
included), and the cost is the answer's ``cost_usd``, priced from the profile's ``price_*_per_m``
(0 for a local model and for a profile without prices, so a cost quota never binds there). The LLM
judge's own calls are not counted: the pipeline does not report them.

The quota is checked before any work starts and the usage is added when an answer is complete, so a
question admitted just under the limit may finish over it, and so may several admitted at once: the
quota bounds the day's spending to the limit plus what was already in flight, not exactly. Questions
that failed or were cancelled count nothing: their usage is unknown. Days are UTC, so every key's quota
resets at 00:00 UTC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from api.errors import ApiError, retry_after_header
from api.keys import ApiKey
from api.usage import DayUsage, UsageStore

SECONDS_PER_DAY = 86_400
KEY_QUOTA_HINT = "the key's own quota, `verirag keys quota`"


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def next_utc_midnight(now: float) -> float:
    # POSIX time has no leap seconds: every UTC day is exactly 86 400 of its seconds.
    return (now // SECONDS_PER_DAY + 1) * SECONDS_PER_DAY


def iso_utc(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


@dataclass(frozen=True)
class Limits:
    tokens_per_day: int | None  # None: unlimited
    cost_usd_per_day: float | None
    tokens_from_key: bool = False  # whether the key's own quota set it (else the server's default)
    cost_from_key: bool = False

    @property
    def unlimited(self) -> bool:
        return self.tokens_per_day is None and self.cost_usd_per_day is None

    def to_dict(self) -> dict[str, Any]:
        return {"tokens_per_day": self.tokens_per_day, "cost_usd_per_day": self.cost_usd_per_day,
                "source": "key" if self.tokens_from_key or self.cost_from_key else "default"}


class Quotas:
    def __init__(self, store: UsageStore, tokens_per_day: int = 0, cost_usd_per_day: float = 0.0,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.tokens_per_day = tokens_per_day
        self.cost_usd_per_day = cost_usd_per_day
        self.clock = clock  # tests move the day on by replacing it

    def today(self) -> str:
        return utc_day(self.clock())

    def limits(self, key: ApiKey | None) -> Limits:
        own_tokens = key.quota_tokens_per_day if key is not None else None
        own_cost = key.quota_cost_usd_per_day if key is not None else None
        tokens = self.tokens_per_day if own_tokens is None else own_tokens
        cost = self.cost_usd_per_day if own_cost is None else own_cost
        return Limits(tokens or None, cost or None, own_tokens is not None, own_cost is not None)

    def used_today(self, key_id: str) -> DayUsage:
        return self.store.day(key_id, self.today())

    def check(self, key_id: str, key: ApiKey | None) -> None:
        """Nothing when ``key_id`` may start another question today; ApiError 429 ``quota_exceeded`` with
        Retry-After (the seconds to 00:00 UTC) when a limit is reached."""
        limits = self.limits(key)
        if limits.unlimited:
            return
        now = self.clock()
        used = self.store.day(key_id, utc_day(now))
        spent = None
        if limits.tokens_per_day is not None and used.total_tokens >= limits.tokens_per_day:
            where = KEY_QUOTA_HINT if limits.tokens_from_key else "VERIRAG_API_QUOTA_TOKENS_PER_DAY"
            spent = f"{used.total_tokens:,} of its {limits.tokens_per_day:,} tokens ({where})"
        elif limits.cost_usd_per_day is not None and used.cost_usd >= limits.cost_usd_per_day:
            where = KEY_QUOTA_HINT if limits.cost_from_key else "VERIRAG_API_QUOTA_COST_USD_PER_DAY"
            spent = f"${used.cost_usd:.4f} of its ${limits.cost_usd_per_day:g} ({where})"
        if spent is None:
            return
        resets = next_utc_midnight(now)
        wait = resets - now
        raise ApiError(
            429, "quota_exceeded",
            f"the daily quota of key {key_id} is spent: it used {spent} on {used.day} (UTC). It resets at "
            f"{iso_utc(resets)}, in {_duration(wait)}",
            headers=retry_after_header(wait),
        )

    def record(self, key_id: str, result: Any) -> None:
        """An answered question's usage, counted on the day it was answered."""
        usage = result.usage
        self.store.add(key_id, self.today(), usage.prompt_tokens, usage.completion_tokens, result.cost_usd)


def _duration(seconds: float) -> str:
    minutes = max(1, int(seconds + 59) // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}min" if hours else f"{minutes}min"
