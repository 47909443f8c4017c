"""The blocking client: ``Client(base_url, api_key)``. Every call is described in api.client.calls."""

from __future__ import annotations

import time
from typing import Any, Iterator, Optional, Sequence

import httpx

from api.client import calls
from api.client.errors import error_for, parse_body
from api.client.events import StreamEvent, events_from_lines
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


class Client:
    """verirag's HTTP API from Python (docs/api.md). Results are typed (api.client.types); an error status
    raises the exception for it (api.client.errors) with the API's error body.

    >>> with Client("http://127.0.0.1:8000", api_key=KEY) as client:
    ...     answer = client.query("At what speed does Unit 3 trip?", collection="handbook")
    ...     answer.verdict.label, [c.doc_id for c in answer.citations]
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: Optional[str] = None, *,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, http_client: Optional[httpx.Client] = None):
        self.base_url = api_root(base_url)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._headers = request_headers(api_key)

    # -- questions ------------------------------------------------------------------------------------------
    def query(self, question: str, *, collection: Optional[str] = None, filters: Optional[calls.Filters] = None,
              top_k: Optional[int] = None, model: Optional[str] = None, reasoning: Optional[str] = None,
              verify: Optional[str] = None, fusion: Optional[str] = None,
              conversation: Optional[str] = None) -> Answer:
        """The answer with its citations and verdict (POST /v1/query); ``conversation``: an id of your choosing
        that makes this question a turn of that conversation (``answer.conversation`` says which)."""
        return self._send(calls.query(question, collection=collection, filters=filters, top_k=top_k, model=model,
                                      reasoning=reasoning, verify=verify, fusion=fusion, conversation=conversation))

    def query_stream(self, question: str, *, collection: Optional[str] = None,
                     filters: Optional[calls.Filters] = None, top_k: Optional[int] = None,
                     model: Optional[str] = None, reasoning: Optional[str] = None, verify: Optional[str] = None,
                     fusion: Optional[str] = None, conversation: Optional[str] = None) -> Iterator[StreamEvent]:
        """The answer as it is made: RetrievalEvent, ReasoningEvent…, AnswerEvent…, VerificationEvent, DoneEvent.
        Stopping the iteration early (``break``, ``close()``) hangs up, which stops the answer on the server."""
        call = calls.query(question, collection=collection, filters=filters, top_k=top_k, model=model,
                           reasoning=reasoning, verify=verify, fusion=fusion, stream=True, conversation=conversation)
        with transport_errors():
            with self._http.stream(call.method, self._url(call.path), json=call.json,
                                   headers={**self._headers, "Accept": "text/event-stream"}) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_for(response.status_code, parse_body(response.content), response.headers)
                yield from events_from_lines(response.iter_lines())

    def retrieve(self, question: str, *, collection: Optional[str] = None, filters: Optional[calls.Filters] = None,
                 top_k: Optional[int] = None, fusion: Optional[str] = None) -> Retrieval:
        """The passages a question retrieves, without asking a model (POST /v1/retrieve)."""
        return self._send(calls.retrieve(question, collection=collection, filters=filters, top_k=top_k, fusion=fusion))

    def verify(self, answer: str, passages: Sequence[Any], *, question: Optional[str] = None,
               reasoning: Optional[str] = None, policy: Optional[str] = None,
               require_citations: Optional[bool] = None) -> Verification:
        """A given answer checked claim by claim against given passages (POST /v1/verify). A passage is a
        string, a mapping (text, label, doc_id, source, title, page) or a Passage; labels default to S1…Sn."""
        return self._send(calls.verify(answer, passages, question=question, reasoning=reasoning, policy=policy,
                                       require_citations=require_citations))

    # -- collections, documents, jobs --------------------------------------------------------------------------
    def collections(self) -> list[CollectionSummary]:
        return self._send(calls.collections())

    def collection(self, name: str, *, offset: int = 0, limit: int = 100) -> Collection:
        return self._send(calls.collection(name, offset=offset, limit=limit))

    def upload(self, collection: str, files: Sequence[calls.UploadFile]) -> UploadAccepted:
        """Documents into a collection (created by its first upload); a background job ingests them."""
        return self._send(calls.upload(collection, files))

    def job(self, job_id: str) -> Job:
        return self._send(calls.job(job_id))

    def wait_for_job(self, job_id: str, *, timeout: float = 600.0, poll_interval: float = 0.5) -> Job:
        """The job once it has succeeded or failed; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.finished:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job.state} after {timeout:g}s")
            time.sleep(poll_interval)

    def delete_document(self, collection: str, doc_id: str) -> DocumentDeleted:
        """Needs a key with the admin scope."""
        return self._send(calls.delete_document(collection, doc_id))

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self.base_url + path

    def _send(self, call: calls.Call) -> Any:
        with transport_errors():
            response = self._http.request(call.method, self._url(call.path), json=call.json, params=call.params,
                                          files=call.files, headers=self._headers)
        if response.status_code >= 400:
            raise error_for(response.status_code, parse_body(response.content), response.headers)
        return call.parse(response.json())

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


