"""Dependencies every route injects: the app's state and the authenticated, rate-limited caller.

Authentication: ``Authorization: Bearer vrk_…``. With no active key, api.open_mode decides first:
every ``/v1`` request is refused unless open mode is on (``VERIRAG_API_OPEN`` / ``serve --open``), and
then only requests from this machine (peer address, Host, Origin) reach the routes. Here, a server
with no key is open only while it also listens on loopback, so revoking the last key never opens a
server up. An open server ignores whatever key a client sends (the OpenAI SDK always sends one).

An address whose requests keep being refused 401 (``VERIRAG_API_AUTH_FAILURES_PER_MINUTE``, ``_BURST``)
is answered 429 with Retry-After, without its key being checked, until its bucket refills. Uploads are
authenticated by api.middleware before their body is read (FastAPI reads a form before it resolves
dependencies); the caller it finds is reused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from api.errors import ApiError, retry_after_header
from api.keys import KEY_ID_PREFIX, ApiKey, AuthenticationError, Scope
from api.state import AppState

ANONYMOUS = "anonymous"
# Keys in the request's scope["state"]: set here, read by api.middleware's access log and audit.
CALLER = "caller"
KEY_ID = "key_id"
PRESENTED_KEY_ID = "presented_key_id"
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


def identify(state: AppState, authorization: str | None, address: str, request_state: dict) -> Caller:
    """The caller behind an ``Authorization`` header sent from ``address``, or the 401/429 to answer.

    Used both by the :func:`authenticate` dependency and by the middleware (for uploads), so the two
    can never disagree. Records the key id (or the id of a refused key) in ``request_state`` for the
    access log and the audit of refusals.
    """
    keys_exist = state.keys.has_active_keys()
    if not keys_exist and state.loopback_only:
        return Caller(None)  # whatever key is sent: OpenAI clients always send one
    wait = state.auth_throttle.wait(address)
    if wait > 0:
        state.metrics.auth_throttled.inc()
        raise ApiError(429, "rate_limited",
                       f"too many requests without a valid API key from {address}; retry in {wait:.1f}s "
                       "(VERIRAG_API_AUTH_FAILURES_PER_MINUTE)", headers=retry_after_header(wait))

    def refuse(message: str) -> ApiError:
        # Every 401 spends a token: each one is also an audit line, so none may come at line rate.
        state.auth_throttle.failed(address)
        return _unauthorized(message)

    if not keys_exist:
        raise refuse(
            f"no API key exists and this server listens on {state.api_settings.host}, so every request "
            "is refused; create one with `verirag keys create --collection NAME --scope read`"
        )
    if not authorization:
        raise refuse("an API key is required: send 'Authorization: Bearer <key>'")
    scheme, token = get_authorization_scheme_param(authorization)
    if scheme.lower() != "bearer" or not token:
        raise refuse("the Authorization header must read 'Bearer <API key>'")
    try:
        key = state.keys.authenticate(token)
    except AuthenticationError as error:
        presented = KEY_ID_PREFIX.match(token)  # the public id part only: never a secret in the audit
        request_state[PRESENTED_KEY_ID] = presented.group(1) if presented else None
        raise refuse(str(error)) from None
    request_state[KEY_ID] = key.id
    return Caller(key)


def check_rate(state: AppState, caller: Caller) -> None:
    """The caller's own bucket (VERIRAG_API_RATE_LIMIT_PER_MINUTE): 429 with Retry-After when empty."""
    wait = state.limiter.acquire(caller.id)
    if wait > 0:
        state.metrics.rate_limited.inc()
        raise ApiError(429, "rate_limited",
                       f"rate limit of {state.api_settings.rate_limit_per_minute:g} requests a minute for "
                       f"{caller.id} reached; retry in {wait:.1f}s", headers=retry_after_header(wait))


def client_address(scope: dict) -> str:
    return (scope.get("client") or ("unknown", 0))[0]


async def authenticate(
    request: Request,
    state: State,
    # Declared for the OpenAPI document's security scheme; identify() reads the header itself.
    credentials: Annotated[Optional[HTTPAuthorizationCredentials], Depends(bearer)],
) -> Caller:
    request_state = request.scope.setdefault("state", {})
    caller = request_state.get(CALLER)
    if caller is None:
        caller = identify(state, request.headers.get("authorization"), client_address(request.scope), request_state)
        request_state[KEY_ID] = caller.id
        check_rate(state, caller)
        request_state[CALLER] = caller
    return caller


Authenticated = Annotated[Caller, Depends(authenticate)]
