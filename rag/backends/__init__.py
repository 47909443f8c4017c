"""Model backends: DeepSeek and OpenAI-compatible servers over HTTP, GGUF models in-process.

``backend_for(profile, settings)`` picks one; every backend speaks :class:`Backend` (``generate`` and
``stream``) and raises the :class:`ModelError` family. llama-cpp-python is imported only when a local
profile is used.
"""

from rag.backends.base import (
    Backend,
    ModelAuthError,
    ModelBillingError,
    ModelConfigError,
    ModelError,
    ModelRequestError,
    ModelUnavailableError,
    StreamEvent,
    prepare_history,
)
from rag.backends.fallback import generate_with_fallback, stream_with_fallback
from rag.backends.openai_compat import OpenAICompatBackend, RetryPolicy
from rag.backends.registry import backend_for

__all__ = [
    "Backend",
    "ModelAuthError",
    "ModelBillingError",
    "ModelConfigError",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailableError",
    "OpenAICompatBackend",
    "RetryPolicy",
    "StreamEvent",
    "backend_for",
    "generate_with_fallback",
    "prepare_history",
    "stream_with_fallback",
]


def __getattr__(name: str):  # LocalBackend without importing llama_cpp up front
    if name == "LocalBackend":
        from rag.backends.local import LocalBackend

        return LocalBackend
    raise AttributeError(name)
