"""What both clients send with every request: the API's root URL, the key, the timeouts."""

from __future__ import annotations

from typing import Optional

import httpx

from api.client.errors import APIConnectionError, APITimeoutError

# A question can take minutes (generation, then verification: VERIRAG_API_GENERATE_TIMEOUT_S 300 and
# _VERIFY_TIMEOUT_S 120 on the server); connecting should not.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=10.0)


def api_root(base_url: str) -> str:
    """``http://host:8000``, ``http://host:8000/`` and ``http://host:8000/v1`` all mean the same server."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def request_headers(api_key: Optional[str]) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class transport_errors:
    """httpx's transport failures raised as the client's own, so callers catch one family of exceptions."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, httpx.TimeoutException):
            raise APITimeoutError(f"no answer from the verirag API in time: {error}") from error
        if isinstance(error, httpx.TransportError):
            raise APIConnectionError(f"cannot reach the verirag API: {error}") from error
        return False

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind, error, traceback) -> bool:
        return self.__exit__(kind, error, traceback)
