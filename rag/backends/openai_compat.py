"""One client for DeepSeek and every OpenAI-compatible server (llama.cpp, vLLM, Ollama ``/v1``, TGI).

The official ``openai`` SDK speaks the wire format; this module adds what the SDK leaves to us:

* Retries, done here (the SDK gets ``max_retries=0``) so they are testable and follow the provider's
  advice: 429, 500, 502, 503, 504 (and 408), connection errors and timeouts are retried with
  exponential backoff and full jitter (``uniform(0, min(cap, base * 2**attempt))``), never shorter than
  the server's ``Retry-After``; a ``Retry-After`` longer than ``RetryPolicy.max_retry_after_s`` gives
  up at once so a fallback profile can answer instead of the user waiting. 400/401/402/403/404/422 are
  never retried. A stream is retried only while nothing has been handed to the caller yet; the SDK
  does not wrap errors raised while a stream is read, so httpx transport errors are caught too.
* DeepSeek's request fields from the profile: ``thinking`` (``{"type": "enabled" | "disabled"}``) and
  ``reasoning_effort`` through ``extra_body``; no ``temperature`` when thinking is on (the API ignores
  it); ``stream_options.include_usage`` so a stream ends with its usage.
* Reasoning and usage through :mod:`rag.reasoning`, whatever field or tags the server used. A stream
  whose server reports no usage (llama-cpp-python's server ignores ``stream_options``) gets
  ``completion_tokens`` = the number of text deltas (one token each on llama.cpp, vLLM and Ollama) and
  ``prompt_tokens`` 0 (unknown).
* Errors that name the profile, the server and what to fix (see :mod:`rag.backends.base`).

Profile ``extra`` keys read here: ``extra_body`` (dict merged into every request body, e.g. vLLM's
``chat_template_kwargs``) and ``stream_usage`` (False for a server that rejects ``stream_options``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from openai import OpenAI

from rag.backends.base import (
    Message,
    ModelAuthError,
    ModelBillingError,
    ModelConfigError,
    ModelError,
    ModelRequestError,
    ModelUnavailableError,
    StreamEvent,
    prepare_history,
    where,
)
from rag.backends.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from rag.backends.tool_turns import ToolCallAccumulator, ToolTurn, calls_from_message
from rag.profiles import DEEPSEEK_BASE_URL, ModelProfile
from rag.reasoning import REASONING_FIELDS, StreamSplitter, collect, normalise_message, usage_from_response
from rag.types import Generation, Usage

__all__ = [
    "DEEPSEEK_BASE_URL",
    "OpenAICompatBackend",
    "RetryPolicy",
    "parse_retry_after",
    "prepare_history",
    "thinking_enabled",
]

log = logging.getLogger(__name__)

DEEPSEEK_KEY_PAGE = "https://platform.deepseek.com/api_keys"
DEEPSEEK_TOP_UP_PAGE = "https://platform.deepseek.com/top_up"
DEFAULT_KEY_ENV = {"deepseek": "DEEPSEEK_API_KEY"}
# Local servers (llama.cpp, vLLM without --api-key, Ollama) accept any key; the SDK insists on one.
NO_KEY = "sk-no-key-required"
AUTH_STATUSES = frozenset({401, 403})
_SERVER_TEXT_LIMIT = 300


def thinking_enabled(profile: ModelProfile) -> bool:
    """Whether the model reasons before answering: DeepSeek's thinking mode is on unless turned off."""
    if profile.thinking is not None:
        return bool(profile.thinking)
    return profile.provider == "deepseek"


@dataclass
class _Retryable:
    """A failure worth another attempt."""

    reason: str
    exc: BaseException
    retry_after: float | None = None


@dataclass(frozen=True)
class _Call:
    profile: ModelProfile
    base_url: str
    client: OpenAI
    kwargs: dict[str, Any]

    @property
    def where(self) -> str:
        return where(self.profile, self.base_url)


class OpenAICompatBackend:
    """The :class:`~rag.backends.base.Backend` for ``deepseek`` and ``openai_compatible`` profiles.

    ``sleep`` and ``rng`` are injectable so tests see every wait without waiting. ``default_base_url``
    serves ``openai_compatible`` profiles without a ``base_url`` of their own. Clients are cached per
    (base URL, key, timeout) and shared between threads (the SDK client is thread-safe).
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        default_base_url: str | None = None,
        retry_statuses: frozenset[int] = RETRY_STATUSES,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy.from_settings()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.default_base_url = default_base_url
        self.retry_statuses = frozenset(retry_statuses)
        self._environ = environ  # None: os.environ, read at each call
        self._clients: dict[tuple[str, str, float], OpenAI] = {}
        self._lock = threading.Lock()

    # -- the Backend protocol -----------------------------------------------------------------------

    def generate(
        self, profile: ModelProfile, messages: Sequence[Message], *, max_tokens: int | None = None,
        json_output: bool = False,
    ) -> Generation:
        """``json_output`` asks for a JSON object (``response_format``); the prompt must say "json" and show
        an example. DeepSeek may then answer with empty content: that is asked once more."""
        call = self._prepare(profile, messages, max_tokens, stream=False, json_output=json_output)
        empty_retries = 1 if json_output else 0
        while True:
            generation = self._generation(call, self._complete(call, _attempts(profile)))
            if not generation.answer.strip() and empty_retries:
                empty_retries -= 1
                continue
            return generation

    def _complete(self, call: _Call, attempts: int) -> Any:
        """One non-streamed completion, retried with backoff while its error is worth a retry."""
        attempt = 0
        while True:
            try:
                return call.client.chat.completions.create(**call.kwargs)
            except Exception as exc:  # noqa: BLE001 - classified: re-raised, mapped or retried
                self._pause_or_give_up(call, attempt, attempts, self._classify(exc, call))
                attempt += 1

    def stream(
        self, profile: ModelProfile, messages: Sequence[Message], *, max_tokens: int | None = None
    ) -> Iterator[StreamEvent]:
        # Everything that can fail before a request (key, base URL) fails here, not at first next().
        call = self._prepare(profile, messages, max_tokens, stream=True)
        return self._stream(call)

    # -- turns that may call tools (rag.backends.tool_turns; used by rag.multistep.tool_loop) ----------

    def generate_turn(
        self, profile: ModelProfile, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], *,
        tool_choice: str = "auto", max_tokens: int | None = None,
    ) -> ToolTurn:
        """One whole turn with ``tools`` offered: its text and the tool calls it made (retried as
        :meth:`generate` is)."""
        call = self._prepare(profile, messages, max_tokens, stream=False, tools=tools, tool_choice=tool_choice)
        response = self._complete(call, _attempts(profile))
        return ToolTurn(self._generation(call, response), calls_from_message(response.choices[0].message))

    def stream_turn(
        self, profile: ModelProfile, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], *,
        tool_choice: str = "auto", max_tokens: int | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Reasoning/answer deltas as they arrive, then ``("done", ToolTurn)`` with the tool calls rebuilt
        from their streamed pieces."""
        call = self._prepare(profile, messages, max_tokens, stream=True, tools=tools, tool_choice=tool_choice)
        return self._stream_turn(call)

    def _stream_turn(self, call: _Call) -> Iterator[tuple[str, Any]]:
        accumulator = ToolCallAccumulator()
        for kind, payload in self._stream(call, accumulator):
            if kind == "done":
                yield "done", ToolTurn(payload, accumulator.calls())
            else:
                yield kind, payload

    # -- request --------------------------------------------------------------------------------------

    def base_url_for(self, profile: ModelProfile) -> str:
        if profile.base_url:
            return profile.base_url.rstrip("/")
        if profile.provider == "deepseek":
            return DEEPSEEK_BASE_URL
        if self.default_base_url:
            return self.default_base_url.rstrip("/")
        raise ModelConfigError(
            f"profile {profile.name!r} has no base_url: set base_url under [profiles.{profile.name}] in "
            "verirag.toml (e.g. http://127.0.0.1:8080/v1 for llama.cpp, http://127.0.0.1:11434/v1 for "
            "Ollama) or the default OpenAI-compatible server URL (llama_base_url in verirag.toml, "
            "VERIRAG_LLAMA_BASE_URL)",
            profile=profile.name,
        )

    def api_key_for(self, profile: ModelProfile, base_url: str) -> str:
        env = self._environ if self._environ is not None else os.environ
        name = profile.api_key_env or DEFAULT_KEY_ENV.get(profile.provider)
        if name is None:
            return NO_KEY
        key = (env.get(name) or "").strip()
        if key:
            return key
        page = f" (create one at {DEEPSEEK_KEY_PAGE})" if profile.provider == "deepseek" else ""
        raise ModelAuthError(
            f"{where(profile, base_url)}: no API key: environment variable {name} is not set or empty; "
            f"export {name}=<your key>{page}",
            profile=profile.name, base_url=base_url,
        )

    def _client(self, base_url: str, api_key: str, timeout_s: float) -> OpenAI:
        key = (base_url, api_key, float(timeout_s))
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
                client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
                self._clients[key] = client
            return client

    def request_kwargs(
        self, profile: ModelProfile, messages: Sequence[Message], max_tokens: int | None, *, stream: bool,
        json_output: bool = False, tools: Sequence[Mapping[str, Any]] | None = None, tool_choice: str | None = None,
    ) -> dict[str, Any]:
        """The ``chat.completions.create`` arguments for this profile (public for inspection and tests)."""
        kwargs: dict[str, Any] = {
            "model": profile.model,
            "messages": prepare_history(messages, profile),
            "max_tokens": max_tokens if max_tokens is not None else profile.max_output_tokens,
        }
        thinking = thinking_enabled(profile)
        if profile.temperature is not None and not thinking:
            kwargs["temperature"] = profile.temperature
        extra_body = dict((profile.extra or {}).get("extra_body") or {})
        if profile.thinking is not None:
            extra_body["thinking"] = {"type": "enabled" if profile.thinking else "disabled"}
        if profile.reasoning_effort is not None and profile.thinking is not False:
            extra_body["reasoning_effort"] = profile.reasoning_effort
        if extra_body:
            kwargs["extra_body"] = extra_body
        if json_output:
            kwargs["response_format"] = {"type": "json_object"}
        if tools:
            kwargs["tools"] = [dict(tool) for tool in tools]
            if tool_choice is not None:
                kwargs["tool_choice"] = tool_choice
        if stream:
            kwargs["stream"] = True
            if (profile.extra or {}).get("stream_usage", True):
                kwargs["stream_options"] = {"include_usage": True}
        return kwargs

    def _prepare(self, profile: ModelProfile, messages: Sequence[Message], max_tokens: int | None, *,
                 stream: bool, json_output: bool = False, tools: Sequence[Mapping[str, Any]] | None = None,
                 tool_choice: str | None = None) -> _Call:
        if profile.provider not in ("deepseek", "openai_compatible"):
            raise ModelConfigError(
                f"profile {profile.name!r} has provider {profile.provider!r}; OpenAICompatBackend serves "
                "'deepseek' and 'openai_compatible' profiles (use rag.backends.backend_for)",
                profile=profile.name,
            )
        if not messages:
            raise ModelRequestError(f"profile {profile.name!r}: no messages to send", profile=profile.name,
                                    param="messages")
        base_url = self.base_url_for(profile)
        api_key = self.api_key_for(profile, base_url)
        client = self._client(base_url, api_key, profile.timeout_s)
        kwargs = self.request_kwargs(profile, messages, max_tokens, stream=stream, json_output=json_output, tools=tools,
                                     tool_choice=tool_choice)
        return _Call(profile, base_url, client, kwargs)

    # -- responses ------------------------------------------------------------------------------------

    def _generation(self, call: _Call, response: Any) -> Generation:
        choices = getattr(response, "choices", None)
        if not choices:
            kind = "a body that is not a chat completion" if isinstance(response, (str, bytes)) else "no choices"
            raise ModelRequestError(
                f"{call.where}: the server answered 200 with {kind}; check that base_url points at an "
                "OpenAI-compatible API (for most servers it ends in /v1)",
                profile=call.profile.name, base_url=call.base_url, status=200, param="base_url",
            )
        choice = choices[0]
        reasoning, answer = normalise_message(choice.message, call.profile.reasoning_style)
        return Generation(
            reasoning=reasoning,
            answer=answer,
            usage=usage_from_response(getattr(response, "usage", None)),
            finish_reason=choice.finish_reason,
            model=call.profile.name,
        )

    def _stream(self, call: _Call, tool_calls: ToolCallAccumulator | None = None) -> Iterator[StreamEvent]:
        """``tool_calls``: collects the streamed tool-call pieces (a retried attempt starts it afresh)."""
        attempts = _attempts(call.profile)
        attempt = 0
        while True:
            emitted = False
            if tool_calls is not None:
                tool_calls.reset()
            try:
                chunks = call.client.chat.completions.create(**call.kwargs)
                splitter = StreamSplitter(call.profile.reasoning_style)
                events: list[tuple[str, str]] = []
                usage: Usage | None = None
                finish_reason: str | None = None
                text_deltas = 0  # for servers that report no stream usage
                try:
                    for chunk in chunks:
                        chunk_usage = getattr(chunk, "usage", None)
                        if chunk_usage is not None:
                            usage = usage_from_response(chunk_usage)
                        for choice in getattr(chunk, "choices", None) or []:
                            if getattr(choice, "index", 0) != 0:
                                continue
                            if choice.finish_reason:
                                finish_reason = choice.finish_reason
                            if _has_text(choice.delta):
                                text_deltas += 1
                            if tool_calls is not None and choice.delta is not None:
                                tool_calls.feed(choice.delta)
                            for event in splitter.feed(choice.delta):
                                events.append(event)
                                emitted = True
                                yield event
                    for event in splitter.finish():
                        events.append(event)
                        emitted = True
                        yield event
                finally:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()
                if usage is None:  # llama-cpp-python's server, or stream_usage off: one token per delta
                    usage = Usage(completion_tokens=text_deltas)
                reasoning, answer = collect(events)
                yield "done", Generation(reasoning=reasoning, answer=answer, usage=usage,
                                         finish_reason=finish_reason, model=call.profile.name)
                return
            except Exception as exc:  # noqa: BLE001 - classified: re-raised, mapped or retried
                failure = self._classify(exc, call)
                if emitted:
                    raise ModelUnavailableError(
                        f"{call.where}: the stream broke after part of the answer was sent "
                        f"({failure.reason}); not retried because the partial output was already shown — "
                        "ask again",
                        profile=call.profile.name, base_url=call.base_url, retry_after=failure.retry_after,
                        attempts=attempt + 1,
                    ) from exc
                self._pause_or_give_up(call, attempt, attempts, failure)
                attempt += 1

    # -- errors and retries ---------------------------------------------------------------------------

    def _classify(self, exc: BaseException, call: _Call) -> _Retryable:
        """A :class:`_Retryable`, or raise: a mapped :class:`ModelError`, or ``exc`` itself if it is ours."""
        if isinstance(exc, ModelError):
            raise exc
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            message, param = _server_error(exc)
            if status in self.retry_statuses:
                return _Retryable(f"{status} {message}".strip(), exc, parse_retry_after(exc.response.headers))
            if status >= 500:  # 501, 505 …: the server cannot serve this; another profile may
                raise ModelUnavailableError(
                    f"{call.where}: {status}: {message}; the server cannot serve this request (not retried): "
                    "check the server, or give the profile a fallback",
                    profile=call.profile.name, base_url=call.base_url, status=status,
                    retry_after=parse_retry_after(exc.response.headers),
                ) from exc
            raise _status_error(call, status, message, param) from exc
        if isinstance(exc, openai.APITimeoutError):
            return _Retryable(f"no answer within {call.profile.timeout_s:g} s (timeout_s)", exc)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            return _Retryable(f"connection failed: {_describe(cause or exc)}", exc)
        if isinstance(exc, openai.APIResponseValidationError):
            raise ModelRequestError(
                f"{call.where}: the server's answer does not look like a chat completion ({exc.message}); "
                "check that base_url points at an OpenAI-compatible API",
                profile=call.profile.name, base_url=call.base_url, param="base_url",
            ) from exc
        if isinstance(exc, openai.APIError):  # an error event inside an SSE stream
            return _Retryable(f"the server reported an error mid-stream: {exc.message}", exc)
        if isinstance(exc, httpx.TimeoutException):
            return _Retryable(f"no data within {call.profile.timeout_s:g} s (timeout_s)", exc)
        if isinstance(exc, httpx.TransportError):  # the SDK does not wrap errors raised while streaming
            return _Retryable(f"connection broke: {_describe(exc)}", exc)
        if isinstance(exc, json.JSONDecodeError):
            return _Retryable(f"malformed stream data: {exc}", exc)
        raise exc

    def _pause_or_give_up(self, call: _Call, attempt: int, attempts: int, failure: _Retryable) -> None:
        """Sleep before attempt ``attempt + 1``, or raise :class:`ModelUnavailableError`."""
        retry_after = failure.retry_after
        common = dict(profile=call.profile.name, base_url=call.base_url, retry_after=retry_after,
                      attempts=attempt + 1)
        status = getattr(failure.exc, "status_code", None)
        fix = "try again later, raise max_retries in the profile, or give the profile a fallback"
        if attempt + 1 >= attempts:
            wait = f"; the server asked to wait {retry_after:g} s" if retry_after is not None else ""
            raise ModelUnavailableError(
                f"{call.where}: unavailable after {attempt + 1} attempt(s) (last: {failure.reason}){wait}; {fix}",
                status=status, **common,
            ) from failure.exc
        if retry_after is not None and retry_after > self.retry.max_retry_after_s:
            raise ModelUnavailableError(
                f"{call.where}: {failure.reason}; the server asks to wait {retry_after:g} s, longer than the "
                f"{self.retry.max_retry_after_s:g} s this client waits (llm_retry_after_max_s); {fix}",
                status=status, **common,
            ) from failure.exc
        delay = max(retry_after or 0.0, self.retry.backoff(attempt, self._rng))
        log.warning("%s: %s; retry %d/%d in %.2f s", call.where, failure.reason, attempt + 1, attempts - 1, delay)
        self._sleep(delay)


def _has_text(delta: Any) -> bool:
    if delta is None:
        return False
    if getattr(delta, "content", None):
        return True
    extra = getattr(delta, "model_extra", None) or {}
    return any(isinstance(extra.get(name), str) and extra[name] for name in REASONING_FIELDS)


def _attempts(profile: ModelProfile) -> int:
    return 1 + max(0, int(profile.max_retries))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _server_error(exc: openai.APIStatusError) -> tuple[str, str | None]:
    """The server's own message and the parameter it blamed, from any common error envelope."""
    body = exc.body
    message: str | None = None
    param: str | None = None
    if isinstance(body, Mapping):
        if isinstance(body.get("error"), Mapping):  # {"error": {...}} not unwrapped by the SDK
            body = body["error"]
        raw = body.get("message") or body.get("error")
        if isinstance(raw, str):
            message = raw
        if isinstance(body.get("param"), str):
            param = body["param"]
        detail = body.get("detail")  # FastAPI (llama-cpp-python's server): [{"loc": [...], "msg": ...}]
        if message is None and isinstance(detail, str):
            message = detail
        elif message is None and isinstance(detail, list) and detail:
            first = detail[0] if isinstance(detail[0], Mapping) else {}
            loc = [str(p) for p in first.get("loc", []) if p != "body"]
            param = param or (".".join(loc) or None)
            message = "; ".join(str(d.get("msg", d)) if isinstance(d, Mapping) else str(d) for d in detail)
    elif isinstance(body, str) and body.strip():
        message = body
    if message is None:
        message = exc.message
    message = " ".join(message.split())
    if len(message) > _SERVER_TEXT_LIMIT:
        message = message[: _SERVER_TEXT_LIMIT - 1] + "…"
    return message, param


def _status_error(call: _Call, status: int, message: str, param: str | None) -> ModelError:
    profile, base_url = call.profile, call.base_url
    said = f"{status}: {message}"
    common = dict(profile=profile.name, base_url=base_url, status=status)
    key_env = profile.api_key_env or DEFAULT_KEY_ENV.get(profile.provider)
    if status in AUTH_STATUSES:
        if key_env is None:
            fix = ("the server wants an API key: set api_key_env in the profile to the environment variable "
                   "that holds it")
        elif status == 401:
            page = f" (keys: {DEEPSEEK_KEY_PAGE})" if profile.provider == "deepseek" else ""
            fix = f"the key in {key_env} was rejected: set {key_env} to a valid key{page}"
        else:
            fix = f"the key in {key_env} may not use model {profile.model!r}: use a key with access to it"
        return ModelAuthError(f"{call.where}: {said}; {fix}", **common)
    if status == 402:
        where_to = DEEPSEEK_TOP_UP_PAGE if profile.provider == "deepseek" else f"the account of the key in {key_env}"
        return ModelBillingError(
            f"{call.where}: {said}; insufficient balance; top up {where_to}, or answer with another profile "
            "(--model)", **common)
    return ModelRequestError(f"{call.where}: {said}; {_request_fix(call, status, message, param)}",
                             param=param, **common)


def _request_fix(call: _Call, status: int, message: str, param: str | None) -> str:
    """What to change when the server rejected the request (400/404/422 …)."""
    profile, base_url = call.profile, call.base_url
    text, p = message.lower(), (param or "").lower()
    if p == "model" or "model not exist" in text or ("model" in text and ("not found" in text or "exist" in text)):
        fix = (f"the server has no model {profile.model!r}: set model in the profile to one listed by "
               f"GET {base_url}/models")
        if profile.provider == "deepseek":
            fix += (" (DeepSeek V4: deepseek-v4-flash, deepseek-v4-pro; deepseek-chat and deepseek-reasoner "
                    "are retired names)")
        return fix
    if "reasoning_content" in p or "reasoning_content" in text:
        return ("an earlier assistant turn that made tool calls must carry its reasoning_content in thinking "
                "mode: keep the reasoning of tool-call turns in the history (prepare_history does)")
    if p.startswith("thinking") or "thinking" in text:
        return f"thinking = {profile.thinking!r} was rejected: set thinking to true or false in the profile, or unset it"
    if "reasoning_effort" in p or "reasoning_effort" in text:
        return (f"reasoning_effort = {profile.reasoning_effort!r} was rejected: use low, high or max "
                "(DeepSeek), or unset it")
    if "context" in text or "too many tokens" in text or "too long" in text:
        return (f"the prompt plus max_tokens exceed the model's context: lower the output budget "
                f"(max_output_tokens = {profile.max_output_tokens}) or the prompt, and check "
                f"context_window = {profile.context_window} in the profile")
    if "max_tokens" in p or "max_tokens" in text:
        return (f"max_tokens was rejected: lower max_output_tokens ({profile.max_output_tokens}) in the profile "
                "or the max_tokens passed")
    if "temperature" in p or "temperature" in text:
        return f"temperature = {profile.temperature!r} was rejected: change or unset temperature in the profile"
    if "stream_options" in p or "stream_options" in text:
        return "the server does not accept stream_options: set extra.stream_usage = false in the profile"
    if status == 404:
        return (f"nothing serves {base_url}/chat/completions: check base_url in the profile (most "
                "OpenAI-compatible servers need a /v1 suffix)")
    if param:
        return f"the server rejected parameter {param!r}: fix it in the profile"
    return "the server rejected the request: check the profile's model and parameters"
