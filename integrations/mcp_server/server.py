"""verirag as a Model Context Protocol server: tools to search a collection, ask with a checked answer, verify
an answer, list collections; resources for collections and their documents.

The tools are described for an agent that has read nothing else: what each does, when to use it, what comes
back. Every call runs on a worker thread (retrieval and generation block), so one slow answer does not stall
the others on a streamable HTTP server.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Callable, Optional, TypeVar, Union

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from api.client.errors import VeriragError
from integrations.backend import VeriragBackend
from integrations.mcp_server.results import (
    AskResult,
    CollectionsResult,
    SearchResult,
    VerdictResult,
    ask_result,
    collections_result,
    document_uri,
    search_result,
    verdict_result,
)

INSTRUCTIONS = (
    "verirag answers questions from document collections and checks every answer against its sources, claim "
    "by claim. Use `search` to read passages yourself, `ask` for an answer with citations and a verdict, "
    "`verify` to check an answer you wrote against passages you have, `list_collections` to see what exists. "
    "A verdict label of `supported` means every factual claim was found in the sources; anything else comes "
    "with warnings that say which claim failed and why: pass them on rather than the answer alone."
)

# Failures the caller can act on (no such collection, a bad filter, a model refusing, the API's errors) carry
# a message written for people: the agent gets it as the tool's error. Anything else is a crash (logged).
EXPECTED = (ValueError, LookupError, RuntimeError, VeriragError)
T = TypeVar("T")

FilterValue = Union[str, int, bool, list[Union[str, int]]]
Collection = Annotated[Optional[str], Field(
    description="Collection to use (see list_collections); default: the server's default collection.")]
TopK = Annotated[Optional[int], Field(
    ge=1, le=50, description="How many passages to retrieve (default 8, or as the server is configured).")]
Filters = Annotated[Optional[dict[str, FilterValue]], Field(
    description=("Metadata conditions that must all hold, e.g. {\"doc_id\": \"manual.pdf\", \"page\": 3}; a "
                 "list matches any of its values. Keys: doc_id, source, title, page, or a corpus's own fields."))]


class GivenPassage(BaseModel):
    text: str = Field(min_length=1, description="The passage text the answer was written from.")
    label: Optional[str] = Field(None, pattern=r"^S[1-9][0-9]{0,5}$",
                                 description="How the answer cites it (S1, S2, …); default S1…Sn in order.")
    doc_id: Optional[str] = Field(None, description="Shown back in the evidence.")
    source: Optional[str] = Field(None, description="Shown back in the evidence.")
    title: Optional[str] = Field(None, description="The document's title, if known.")
    page: Optional[int] = Field(None, ge=1, description="Its page number, if known; shown back in the evidence.")


def build_server(backend: VeriragBackend) -> MCPServer:
    server = MCPServer("verirag", instructions=INSTRUCTIONS, version=_version())
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                open_world_hint=False)

    @server.tool(
        name="search", title="Search a collection",
        description=("Find the passages of a verirag document collection that best match a query (hybrid "
                     "semantic + keyword search; adjacent text merged in). Returns passages best first, each "
                     "with its document id, source, title, section, page and text. No model is asked: use "
                     "this to read the sources yourself."),
        annotations=read_only,
    )  # fmt: skip
    async def search(
        query: Annotated[str, Field(min_length=1, description="What to look for: a question or key words.")],
        collection: Collection = None, top_k: TopK = None, filters: Filters = None,
    ) -> SearchResult:
        passages = await _run(backend.search, query, collection=collection, top_k=top_k, filters=filters)
        return search_result(collection or backend.default_collection, passages, backend.serves_documents)

    @server.tool(
        name="ask", title="Ask with a checked answer",
        description=("Answer a question from a verirag collection: retrieve sources, have the configured model "
                     "answer citing them as [S1], [S2]…, then verify each claim of the answer against the "
                     "sources. Returns the answer, what each citation points to, and the verdict (label "
                     "supported / partially_supported / unsupported / abstained, score 0–1, per-claim status "
                     "and warnings). Slower than search: a model writes the answer."),
        annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=False,
                                    open_world_hint=False),
    )  # fmt: skip
    async def ask(
        question: Annotated[str, Field(min_length=1, description="The question, in plain words.")],
        collection: Collection = None, top_k: TopK = None, filters: Filters = None,
    ) -> AskResult:
        answer = await _run(backend.ask, question, collection=collection, top_k=top_k, filters=filters)
        return ask_result(answer, backend.serves_documents)

    @server.tool(
        name="verify", title="Verify an answer against passages",
        description=("Check an answer claim by claim against the passages it was written from; no retrieval, "
                     "no generation. Give the passages in the order the answer cites them (S1 first) or label "
                     "them. Returns the verdict: label (supported, partially_supported, unsupported, "
                     "abstained), score 0–1, and each claim's status (supported, contradicted, unsupported, "
                     "undecided, not_checkable) with the evidence span and warnings."),
        annotations=read_only,
    )  # fmt: skip
    async def verify(
        answer: Annotated[str, Field(min_length=1, description="The answer to check, citing passages as [S1]….")],
        passages: Annotated[list[GivenPassage], Field(min_length=1, max_length=50,
                                                      description="The sources the answer was written from.")],
        question: Annotated[Optional[str], Field(description="The question answered (helps with short answers).")
                            ] = None,
        require_citations: Annotated[bool, Field(description=(
            "Count a factual sentence without an [S#] citation as uncited (true), or check it against every "
            "passage (false: for answers that cite nothing)."))] = True,
    ) -> VerdictResult:
        given = [passage.model_dump(exclude_none=True) for passage in passages]
        verdict = await _run(backend.verify, answer, given, question=question, require_citations=require_citations)
        return verdict_result(verdict)

    @server.tool(
        name="list_collections", title="List collections",
        description="The document collections this server can search, with their document and chunk counts.",
        annotations=read_only,
    )  # fmt: skip
    async def list_collections() -> CollectionsResult:
        return collections_result(await _run(backend.collections))

    @server.resource("verirag://collections/{collection}", name="collection", mime_type="application/json",
                     description="A collection's documents: doc_id, source, chunk count and each one's URI.")
    async def collection_documents(collection: str) -> str:
        documents = await _read(backend.documents, collection)
        return json.dumps({"collection": collection, "documents": [
            {**document.model_dump(), **({"resource": document_uri(collection, document.doc_id)}
                                         if backend.serves_documents else {})}
            for document in documents
        ]}, ensure_ascii=False)  # fmt: skip

    @server.resource("verirag://collections/{collection}/documents/{+doc_id}", name="document",
                     mime_type="text/plain",
                     description="The text of one document as verirag stored it (its chunks joined in order).")
    async def document(collection: str, doc_id: str) -> str:
        return (await _read(backend.document, collection, doc_id)).text

    @server.resource("verirag://collections", name="collections", mime_type="application/json",
                     description="Every collection, with its document count and the URI listing its documents.")
    async def collections() -> str:
        result = collections_result(await _read(backend.collections))
        return result.model_dump_json()

    return server


async def _run(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A backend call on a worker thread; an expected failure becomes the tool's error message."""
    try:
        return await anyio.to_thread.run_sync(lambda: function(*args, **kwargs))
    except EXPECTED as error:
        raise ToolError(str(error)) from error


async def _read(function: Callable[..., T], *args: Any) -> T:
    try:
        return await anyio.to_thread.run_sync(lambda: function(*args))
    except LookupError as error:
        raise ResourceNotFoundError(str(error)) from error
    except EXPECTED as error:
        raise ResourceError(str(error)) from error


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("verirag")
    except PackageNotFoundError:
        return "0"
