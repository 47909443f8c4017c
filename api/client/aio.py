"""The asyncio client: ``AsyncClient(base_url, api_key)``, the same calls as :class:`api.client.Client`."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Optional, Sequence

import httpx

from api.client import calls
from api.client.errors import APIConnectionError, error_for, parse_body
from api.client.events import DoneEvent, SSEDecoder, StreamEvent, typed_event
from api.client.transport import DEFAULT_TIMEOUT, api_root, request_headers, transport_errors
from api.client.types import (
    Answer,
    Collection,
    CollectionSummary,
    DocumentDeleted,
    Job,
    Retrieval,
    UploadAccepted,
    Verification,
)


class AsyncClient:
    """verirag's HTTP API from asyncio code; see :class:`api.client.Client` for what each call returns.

    >>> async with AsyncClient("http://127.0.0.1:8000", api_key=KEY) as client:
    ...     async for event in client.query_stream("At what speed does Unit 3 trip?"):
    ...         ...
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: Optional[str] = None, *,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, http_client: Optional[httpx.AsyncClient] = None):
        self.base_url = api_root(base_url)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._headers = request_headers(api_key)

    async def query(self, question: str, *, collection: Optional[str] = None,
                    filters: Optional[calls.Filters] = None, top_k: Optional[int] = None,
                    model: Optional[str] = None, reasoning: Optional[str] = None, verify: Optional[str] = None,
                    fusion: Optional[str] = None, conversation: Optional[str] = None) -> Answer:
        return await self._send(calls.query(question, collection=collection, filters=filters, top_k=top_k,
                                            model=model, reasoning=reasoning, verify=verify, fusion=fusion,
                                            conversation=conversation))

    async def query_stream(self, question: str, *, collection: Optional[str] = None,
                           filters: Optional[calls.Filters] = None, top_k: Optional[int] = None,
                           model: Optional[str] = None, reasoning: Optional[str] = None,
                           verify: Optional[str] = None, fusion: Optional[str] = None,
                           conversation: Optional[str] = None) -> AsyncIterator[StreamEvent]:
        """Typed events until DoneEvent; leaving the loop early hangs up, which stops the answer on the server."""
        call = calls.query(question, collection=collection, filters=filters, top_k=top_k, model=model,
                           reasoning=reasoning, verify=verify, fusion=fusion, stream=True, conversation=conversation)
        async with transport_errors():
            async with self._http.stream(call.method, self._url(call.path), json=call.json,
                                         headers={**self._headers, "Accept": "text/event-stream"}) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_for(response.status_code, parse_body(response.content), response.headers)
                decoder = SSEDecoder()
                async for line in response.aiter_lines():
                    message = decoder.feed(line)
                    event = typed_event(*message) if message is not None else None
                    if event is not None:
                        yield event
                        if isinstance(event, DoneEvent):
                            return
        raise APIConnectionError("the stream ended before the answer was done")

    async def retrieve(self, question: str, *, collection: Optional[str] = None,
                       filters: Optional[calls.Filters] = None, top_k: Optional[int] = None,
                       fusion: Optional[str] = None) -> Retrieval:
        return await self._send(calls.retrieve(question, collection=collection, filters=filters, top_k=top_k,
                                               fusion=fusion))

    async def verify(self, answer: str, passages: Sequence[Any], *, question: Optional[str] = None,
                     reasoning: Optional[str] = None, policy: Optional[str] = None,
                     require_citations: Optional[bool] = None) -> Verification:
        return await self._send(calls.verify(answer, passages, question=question, reasoning=reasoning,
                                             policy=policy, require_citations=require_citations))

    async def collections(self) -> list[CollectionSummary]:
        return await self._send(calls.collections())

    async def collection(self, name: str, *, offset: int = 0, limit: int = 100) -> Collection:
        return await self._send(calls.collection(name, offset=offset, limit=limit))

    async def upload(self, collection: str, files: Sequence[calls.UploadFile]) -> UploadAccepted:
        return await self._send(calls.upload(collection, files))

    async def job(self, job_id: str) -> Job:
        return await self._send(calls.job(job_id))

    async def wait_for_job(self, job_id: str, *, timeout: float = 600.0, poll_interval: float = 0.5) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = await self.job(job_id)
            if job.finished:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job.state} after {timeout:g}s")
            await asyncio.sleep(poll_interval)

    async def delete_document(self, collection: str, doc_id: str) -> DocumentDeleted:
        return await self._send(calls.delete_document(collection, doc_id))

    def _url(self, path: str) -> str:
        return self.base_url + path

    async def _send(self, call: calls.Call) -> Any:
        async with transport_errors():
            response = await self._http.request(call.method, self._url(call.path), json=call.json,
                                                params=call.params, files=call.files, headers=self._headers)
        if response.status_code >= 400:
            raise error_for(response.status_code, parse_body(response.content), response.headers)
        return call.parse(response.json())

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
