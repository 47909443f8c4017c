"""What every model backend offers, and the errors it raises.

A backend turns a chat (a list of OpenAI-style message dicts) into a :class:`~rag.types.Generation`,
whole or as a stream of events. It knows nothing of retrieval or prompts; the profile tells it where
the model runs and how its reasoning arrives.

Stream events, in order: any number of ``("reasoning", text)`` and ``("answer", text)`` deltas (the
reasoning ones first when the model reasons before it answers), then exactly one ``("done",
Generation)`` whose reasoning and answer are the joined, stripped deltas and whose usage is what the
server reported (or what the in-process model counted).

Errors say what to fix and name the profile and the server (``base_url``) they concern:

* :class:`ModelUnavailableError` — the server stayed unreachable, overloaded or rate-limited after the
  retries (429, 500, 502, 503, 504, connection or timeout errors). ``retry_after`` carries the last
  wait the server asked for. The only error a fallback profile steps in for.
* :class:`ModelAuthError` — 401/403, or no key in the environment variable the profile names.
* :class:`ModelBillingError` — 402: the account's balance is used up.
* :class:`ModelRequestError` — 400/404/413/422: the request itself is wrong (an unknown model, an
  invalid parameter, a prompt over the context window); ``param`` names what the server rejected.
* :class:`ModelConfigError` — the profile cannot be used at all (no base URL, no GGUF file, an
  unknown provider); nothing was sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, Union, runtime_checkable

from rag.profiles import ModelProfile
from rag.reasoning import REASONING_FIELDS
from rag.types import Generation

Message = Mapping[str, Any]
DeltaEvent = tuple[Literal["reasoning", "answer"], str]
DoneEvent = tuple[Literal["done"], Generation]
StreamEvent = Union[DeltaEvent, DoneEvent]


@runtime_checkable
class Backend(Protocol):
    def generate(
        self, profile: ModelProfile, messages: Sequence[Message], *, max_tokens: int | None = None,
        json_output: bool = False,
    ) -> Generation:
        """One whole answer. ``max_tokens`` None → ``profile.max_output_tokens``; ``json_output`` asks
        for a JSON object (the prompt must still say "json" and show an example)."""
        ...

    def stream(
        self, profile: ModelProfile, messages: Sequence[Message], *, max_tokens: int | None = None
    ) -> Iterator[StreamEvent]:
        """Reasoning/answer deltas as they arrive, then ``("done", Generation)``."""
        ...


MODEL_SERVER = "the model server"


class ModelError(RuntimeError):
    """A model call failed; ``str(error)`` says what happened and what to fix."""

    def __init__(
        self,
        message: str,
        *,
        profile: str | None = None,
        base_url: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.profile = profile
        self.base_url = base_url
        self.status = status

    def without_url(self) -> str:
        """The message with the server's address replaced by what it is: for text that reaches
        clients of the service (the full message belongs in the log)."""
        return self.message.replace(self.base_url, MODEL_SERVER) if self.base_url else self.message


class ModelUnavailableError(ModelError):
    """Still unavailable after the retries (or not worth retrying now, see ``retry_after``)."""

    def __init__(self, message: str, *, retry_after: float | None = None, attempts: int = 1,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.attempts = attempts


class ModelAuthError(ModelError):
    """The key is missing or the server refused it."""


class ModelBillingError(ModelError):
    """402: insufficient balance."""


class ModelRequestError(ModelError):
    """400/404/422…: the request is wrong; ``param`` is the parameter the server named, if any."""

    def __init__(self, message: str, *, param: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.param = param


class ModelConfigError(ModelError):
    """The profile cannot be used as configured; nothing was sent."""


def where(profile: ModelProfile, base_url: str | None) -> str:
    """``profile 'NAME' (URL)``: the prefix of every backend error message."""
    return f"profile {profile.name!r} ({base_url or 'in-process'})"


def prepare_history(messages: Sequence[Message], profile: ModelProfile) -> list[dict[str, Any]]:
    """The chat as it goes over the wire: earlier reasoning is never sent back, with one exception.

    Every assistant turn loses ``reasoning_content`` (and the other reasoning fields servers return:
    ``reasoning``, ``thinking``): providers want only the answer back, and resending the chain of thought
    wastes context and breaks the prompt cache. Exception: for DeepSeek, an assistant turn that carried
    ``tool_calls`` keeps its ``reasoning_content``; V4 answers 400 without it. Messages may be dicts or
    SDK message objects; the input is never modified.
    """
    keep_tool_reasoning = profile.provider == "deepseek"
    prepared: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, Mapping):
            item = dict(message)
        elif hasattr(message, "model_dump"):
            item = message.model_dump(exclude_none=True)
            item.update(getattr(message, "model_extra", None) or {})
        else:
            raise TypeError(f"a message must be a mapping, got {type(message).__name__}")
        if item.get("role") == "assistant":
            keep = keep_tool_reasoning and bool(item.get("tool_calls"))
            for name in REASONING_FIELDS:
                if not (keep and name == "reasoning_content"):
                    item.pop(name, None)
        prepared.append(item)
    return prepared
