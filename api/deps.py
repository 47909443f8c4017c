"""Dependencies every route injects: the app's state and the authenticated, rate-limited caller.

Authentication: ``Authorization: Bearer vrk_…``. With no active key the server is open, but only
while it listens on loopback: a server on another interface with no key refuses everything, so
revoking the last key never opens it up. An open server ignores whatever key a client sends (the
OpenAI SDK always sends one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError, retry_after_header
from api.keys import ApiKey, AuthenticationError, Scope
from api.state import AppState

ANONYMOUS = "anonymous"
bearer = HTTPBearer(auto_error=False, description="An API key: `verirag keys create --collection NAME --scope read`.")


# Both dependencies are ``async def`` although they never await: FastAPI runs a plain ``def``
# dependency on its thread pool, and those two hops cost more event-loop time per request than
# the work itself (the key lookups below are indexed SQLite reads of a few microseconds).
async def get_state(request: Request) -> AppState:
    return request.app.state.verirag


State = Annotated[AppState, Depends(get_state)]


@dataclass(frozen=True)
class Caller:
    key: ApiKey | None  # None: open access (no key exists and the server is on loopback)

    @property
    def id(self) -> str:
        return self.key.id if self.key is not None else ANONYMOUS

    def may(self, collection: str, scope: Scope = "read") -> bool:
        return self.key is None or (self.key.reaches(collection) and self.key.has_scope(scope))

    def require(self, collection: str, scope: Scope = "read") -> None:
        key = self.key
        if key is None:
            return
        if not key.reaches(collection):
            raise ApiError(403, "forbidden",
                           f"key {key.id} may not use collection {collection!r}; it is for "
                           f"{', '.join(repr(c) for c in key.collections)}", param="collection")
        if not key.has_scope(scope):
            raise ApiError(403, "forbidden",
                           f"key {key.id} has scope {key.scope!r}; this needs {scope!r} on {collection!r}")

    def require_scope(self, scope: Scope = "read") -> None:
        """For routes that touch no collection (``/v1/verify``): the scope alone, whatever collections the
        key names."""
        key = self.key
        if key is not None and not key.has_scope(scope):
            raise ApiError(403, "forbidden", f"key {key.id} has scope {key.scope!r}; this needs {scope!r}")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _key_for(request: Request, credentials: Optional[HTTPAuthorizationCredentials], state: AppState) -> ApiKey:
    if credentials is None:
        if request.headers.get("authorization"):
            raise _unauthorized("the Authorization header must read 'Bearer <API key>'")
        raise _unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
    try:
        return state.keys.authenticate(credentials.credentials)
    except AuthenticationError as error:
        raise _unauthorized(str(error)) from None


async def authenticate(
    request: Request,
    state: State,
    credentials: Annotated[Optional[HTTPAuthorizationCredentials], Depends(bearer)],
) -> Caller:
    if state.keys.has_active_keys():
        caller = Caller(_key_for(request, credentials, state))
    elif state.loopback_only:
        caller = Caller(None)  # whatever key is sent: OpenAI clients always send one
    else:
        raise _unauthorized(
            f"no API key exists and this server listens on {state.api_settings.host}, so every request "
            "is refused; create one with `verirag keys create --collection NAME --scope read`"
        )
    request.scope.setdefault("state", {})["key_id"] = caller.id
    wait = state.limiter.acquire(caller.id)
    if wait > 0:
        state.metrics.rate_limited.inc()
        raise ApiError(429, "rate_limited",
                       f"rate limit of {state.api_settings.rate_limit_per_minute:g} requests a minute for "
                       f"{caller.id} reached; retry in {wait:.1f}s", headers=retry_after_header(wait))
    return caller


Authenticated = Annotated[Caller, Depends(authenticate)]
