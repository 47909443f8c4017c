"""Who may use a server that has no API key: nobody, unless open mode is on, and then only this machine.

While at least one key is active, keys decide (``api.deps``) and this middleware does nothing. With
no active key:

* open mode off (``VERIRAG_API_OPEN``, the default): every ``/v1`` request is refused with a message
  saying how to create a key or turn open mode on. So revoking the last key closes the server rather
  than opening it.
* open mode on: a request is served only when all of these hold —
  - the peer (``scope["client"]``, the socket's address, not the configured ``--host``) is a
    loopback address, so ``uvicorn --host 0.0.0.0`` cannot expose an open server;
  - the ``Host`` header names loopback (``localhost``, ``127.0.0.1``, ``[::1]``, any port), so a web
    page whose DNS name was rebound to 127.0.0.1 cannot read answers through the victim's browser;
  - a state-changing request (anything but GET, HEAD, OPTIONS) that carries an ``Origin`` comes from
    this server's own origin (``http://<Host>``), so a foreign page cannot post a form here. Clients
    that are not browsers send no Origin and are not affected.

Probes (``/healthz``, ``/readyz``, ``/metrics``) and the API documents are not ``/v1`` and need no
key, but in open mode they are held to the same loopback rules.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from api.config import is_loopback
from api.logs import current_request_id

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
API_PREFIX = "/v1/"


class OpenModeMiddleware:
    def __init__(self, app: ASGIApp, state) -> None:
        self.app = app
        self.state = state  # api.state.AppState: the key store and the settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.state.keys.has_active_keys():
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, kind, message = refusal
        await _send_error(send, status, kind, message)

    def refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        """(status, error type, message) when a keyless request must be refused, else None."""
        if not self.state.api_settings.open:
            if not scope["path"].startswith(API_PREFIX):
                return None
            return (401, "unauthorized",
                    "no API key exists and open mode is off, so every request is refused. Create a key with "
                    "`verirag keys create --collection NAME --scope read`, or serve this machine without keys "
                    "with `verirag serve --open` (VERIRAG_API_OPEN=true)")
        client = scope.get("client")
        if client is not None and not is_loopback(client[0]):  # None: a Unix socket, local by nature
            return (403, "forbidden",
                    f"this server has no API key and serves only its own machine; {client[0]} is not loopback. "
                    "Create a key (`verirag keys create`) to serve other hosts")
        headers = _headers(scope)
        host = headers.get("host", "")
        if not is_loopback(_host_name(host)):
            return (403, "forbidden",
                    f"Host {host!r} is not a loopback name; a server without API keys answers only to localhost, "
                    "127.0.0.1 or [::1] (DNS rebinding guard)")
        origin = headers.get("origin")
        if scope["method"] not in SAFE_METHODS and origin is not None and not _same_origin(origin, host, scope):
            return (403, "forbidden",
                    f"cross-origin {scope['method']} from {origin!r} refused: a server without API keys accepts "
                    "changes only from its own pages or from clients that are not browsers")
        return None


def _headers(scope: Scope) -> dict[str, str]:
    return {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}


def _host_name(host: str) -> str:
    """``127.0.0.1:8000`` → ``127.0.0.1``; ``[::1]:8000`` → ``::1``; ``localhost`` → ``localhost``."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(origin: str, host: str, scope: Scope) -> bool:
    """The Origin of a page this server served: its own scheme and the Host the request was sent to."""
    parts = urlsplit(origin)
    return parts.scheme == scope.get("scheme", "http") and parts.netloc.lower() == host.lower()


async def _send_error(send: Send, status: int, kind: str, message: str) -> None:
    body = json.dumps({"error": {"type": kind, "message": message, "request_id": current_request_id()}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
