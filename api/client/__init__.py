"""A Python client for verirag's HTTP API (docs/api.md): ``Client`` (blocking) and ``AsyncClient`` (asyncio)
over httpx, typed results (api.client.types), streamed answers as typed events (api.client.events), and one
exception per error status carrying the API's error body (api.client.errors).

It imports nothing of the core library: an application can talk to a verirag server without loading models
or changing its environment.
"""

from api.client.aio import AsyncClient
from api.client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    GatewayTimeoutError,
    InternalServerError,
    ModelProviderError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    VeriragError,
)
from api.client.events import (
    AnswerEvent,
    DoneEvent,
    ReasoningEvent,
    RetrievalEvent,
    StreamEvent,
    VerificationEvent,
)
from api.client.sync import Client
from api.client.types import (
    Answer,
    Citation,
    ClaimCheck,
    Collection,
    CollectionSummary,
    DocumentDeleted,
    DocumentSummary,
    Evidence,
    Job,
    JobFile,
    Passage,
    RankedPassage,
    Retrieval,
    UploadAccepted,
    Usage,
    Verdict,
    Verification,
)

__all__ = [
    "APIConnectionError", "APIStatusError", "APITimeoutError", "Answer", "AnswerEvent", "AsyncClient",
    "AuthenticationError", "BadRequestError", "Citation", "ClaimCheck", "Client", "Collection",
    "CollectionSummary", "DocumentDeleted", "DocumentSummary", "DoneEvent", "Evidence", "GatewayTimeoutError",
    "InternalServerError", "Job", "JobFile", "ModelProviderError", "NotFoundError", "Passage",
    "PermissionDeniedError", "RankedPassage", "RateLimitError", "ReasoningEvent", "RequestTooLargeError",
    "Retrieval", "RetrievalEvent", "ServiceUnavailableError", "StreamEvent", "UnprocessableEntityError",
    "UploadAccepted", "Usage", "Verdict", "Verification", "VerificationEvent", "VeriragError",
]
