"""GET /v1/usage: model usage per key and UTC day, with each key's daily quota.

A key sees its own usage; a key with the admin scope sees any key's (``key_id``) or every key's (no
``key_id``), and so does open mode's caller, who is on the server's own machine. Keys are server-wide
here: usage is counted per key, not per collection.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ANONYMOUS, Authenticated, Caller, State
from api.errors import ApiError
from api.quotas import SECONDS_PER_DAY, iso_utc, next_utc_midnight, utc_day
from api.schemas.common import error_responses
from api.schemas.usage import UsageResponse
from api.state import AppState
from api.usage import DayUsage

router = APIRouter(tags=["usage"])


@router.get(
    "/v1/usage",
    response_model=UsageResponse,
    summary="Model usage per key and UTC day, with each key's daily quota",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def usage(
    caller: Authenticated,
    state: State,
    key_id: Annotated[str | None, Query(max_length=64, description="The key to report (admin scope for another "
                                                                   "key's); omitted: yours, or every key's for an "
                                                                   "admin.")] = None,
    days: Annotated[int, Query(ge=1, le=366, description="Days to report, today included.")] = 7,
):
    ids = _key_ids(state, caller, key_id, days)
    now = state.quotas.clock()
    today, first = utc_day(now), utc_day(now - (days - 1) * SECONDS_PER_DAY)
    rows = state.usage.history(first, today, ids)
    reports = []
    for one in ids:
        history = [row for row in rows if row.key_id == one]
        today_row = next((row for row in history if row.day == today), None) or DayUsage(one, today)
        reports.append({"key_id": one, "quota": state.quotas.limits(state.keys.get(one)).to_dict(),
                        "today": today_row.to_dict(), "days": [row.to_dict() for row in history]})
    return {"today": today, "resets_at": iso_utc(next_utc_midnight(now)), "days": days, "keys": reports}


def _is_admin(caller: Caller) -> bool:
    return caller.key is None or caller.key.has_scope("admin")


def _key_ids(state: AppState, caller: Caller, key_id: str | None, days: int) -> list[str]:
    """The keys this caller may see and asked for (403 for another key's usage without the admin scope)."""
    if not _is_admin(caller):
        if key_id not in (None, caller.id):
            raise ApiError(403, "forbidden", f"key {caller.id} may see only its own usage; another key's needs "
                           "the admin scope", param="key_id")
        return [caller.id]
    if key_id is not None:
        if key_id != ANONYMOUS and state.keys.get(key_id) is None:  # revoked keys stay listed
            raise ApiError(404, "key_not_found", f"no API key with id {key_id!r}; `verirag keys list` shows them",
                           param="key_id")
        return [key_id]
    now = state.quotas.clock()
    window = state.usage.history(utc_day(now - (days - 1) * SECONDS_PER_DAY), utc_day(now))
    active = [key.id for key in state.keys.list() if key.revoked_at is None]
    return sorted(set(active) | {row.key_id for row in window})
