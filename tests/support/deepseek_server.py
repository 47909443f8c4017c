"""A loopback server that speaks DeepSeek's chat-completions wire format, for tests.

Standard library only (``http.server``), so every byte on the wire is the one written here: the blank
lines DeepSeek sends while a non-streaming request waits in its queue, the ``: keep-alive`` SSE comments
of a waiting stream, chunked transfer, dropped connections. No framework re-encodes anything.

Usage::

    with DeepSeekWireServer(api_key="sk-test") as server:
        server.script(Reply(reasoning="Let me think.", content="42", prompt_tokens=100,
                            prompt_cache_hit_tokens=64))
        client = OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        ...
        assert server.chat_bodies[-1]["thinking"] == {"type": "enabled"}

What the server checks, like the hosted API (per DeepSeek's API documentation): the bearer key (401),
the model name (400 "Model Not Exist"; the retired ``deepseek-chat``/``deepseek-reasoner`` names are
unknown here, since the live API dropped them), ``thinking`` and ``reasoning_effort`` values (422), the
message list (400/422), and V4's multi-turn rule: in thinking mode an earlier assistant turn that carried
``tool_calls`` must send its ``reasoning_content`` back, or 400. These checks never consume a scripted
reply; scripted replies (including scripted errors) answer only requests that passed them.

Tool calls (OpenAI's function-calling format, which DeepSeek documents): the request's ``tools`` (each
``{"type": "function", "function": {"name", "description", "parameters"}}``, names ``[A-Za-z0-9_-]{1,64}``,
unique) and ``tool_choice`` (``"none" | "auto" | "required"`` or a named function among the tools; only
with tools) are checked; every ``tool_calls`` entry of an assistant turn must be answered by a ``tool``
message with its ``tool_call_id`` before the next turn (400 naming the unanswered ids). A ``Reply`` with
``tool_calls`` answers with ``message.tool_calls`` (``[{id, type: "function", function: {name, arguments}}]``,
several = parallel calls) and ``finish_reason`` ``"tool_calls"``; streamed, each call arrives as a head
delta (index, id, type, name) and then pieces of its arguments. A scripted reply the real API could not
give — tool calls when no tools were offered or ``tool_choice`` is ``"none"``, none when a call is forced —
is a bug in the test: the server records it in ``errors`` and answers 500.

Replies come from ``server.script(...)`` (a FIFO of :class:`Reply` objects or callables
``body -> Reply``); when the script is empty, ``server.responder`` answers (by default a deterministic
echo of the last user message, with a deterministic reasoning text in thinking mode).
"""

from __future__ import annotations

import json
import math
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Literal, Union

__all__ = [
    "CURRENT_MODELS",
    "DeepSeekWireServer",
    "RecordedRequest",
    "Reply",
    "deepseek_server",
    "echo_reply",
    "estimate_tokens",
]

CURRENT_MODELS: tuple[str, ...] = ("deepseek-v4-flash", "deepseek-v4-pro")
REASONING_EFFORTS = ("low", "high", "max")
THINKING_TYPES = ("enabled", "disabled")
ROLES = ("system", "user", "assistant", "tool")
SYSTEM_FINGERPRINT = "fp_verirag_loopback_v4"

# Default message and DeepSeek "type" per status; the messages are the short phrases the DeepSeek error
# page uses. param/code follow the OpenAI-compatible error envelope DeepSeek answers with.
ERROR_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("Invalid Format: the request body is malformed", "invalid_request_error"),
    401: ("Authentication Fails, Your api key is invalid", "authentication_error"),
    402: ("Insufficient Balance", "unknown_error"),
    404: ("Not Found", "invalid_request_error"),
    422: ("Invalid Parameters", "invalid_request_error"),
    429: ("Rate Limit Reached", "rate_limit_error"),
    500: ("Server Error", "api_error"),
    503: ("Server Overloaded", "api_error"),
}

Text = Union[str, "list[str]"]


# --------------------------------------------------------------------------------------------------
# Scripted replies


@dataclass
class Reply:
    """One scripted answer.

    Text: ``content`` and ``reasoning`` are strings, or lists of strings that are then the exact stream
    deltas (joined for a non-streaming answer). ``reasoning`` is dropped when the request turned thinking
    off; ``None`` means "no reasoning text" (``""`` in thinking mode). ``tool_calls`` is a list of
    ``{"name": str, "arguments": dict | str, "id": str (optional)}``.

    Usage: any of the five numbers left ``None`` is filled in — prompt tokens estimated from the request
    (and cache hits simulated from earlier prompts, whole blocks of ``cache_block`` tokens),
    reasoning/completion tokens estimated from the text — keeping ``prompt = hit + miss`` and
    ``completion >= reasoning``. Inconsistent explicit numbers raise ``ValueError`` at construction.

    Errors: ``status`` other than 200 answers with DeepSeek's error JSON (``error_message`` /
    ``error_type`` override the defaults; ``raw_body`` sends bytes verbatim instead, e.g. a proxy's HTML
    page), plus ``Retry-After`` when ``retry_after`` is set. Errors are sent without keep-alives.

    Timing: ``delay`` seconds before anything is written; then ``keepalives`` blank lines (non-streaming,
    after a 200 status line and headers, chunked) or ``: keep-alive`` comments (streaming), one every
    ``keepalive_interval`` seconds.
    ``delta_interval`` seconds pass between two stream chunks (a model that writes at a readable pace).

    Failure: ``drop=True`` (or ``"close"``) closes the connection instead of completing the answer —
    before the status line when nothing was sent yet, otherwise after the keep-alives and, when
    streaming, after ``drop_after_chunks`` data events. ``drop="reset"`` resets it (TCP RST) instead.
    """

    content: Text = ""
    reasoning: Text | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None  # None: "tool_calls" when tool_calls is set, else "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    prompt_cache_hit_tokens: int | None = None
    prompt_cache_miss_tokens: int | None = None
    status: int = 200
    error_message: str | None = None
    error_type: str | None = None
    retry_after: int | float | str | None = None
    raw_body: bytes | None = None
    raw_content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    keepalives: int = 0
    keepalive_interval: float = 0.0
    delay: float = 0.0
    delta_interval: float = 0.0
    drop: bool | Literal["close", "reset"] = False
    drop_after_chunks: int = 0
    model: str | None = None  # the model name echoed in the answer; None: the requested one

    def __post_init__(self) -> None:
        for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens",
                     "prompt_cache_hit_tokens", "prompt_cache_miss_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        p, h, m = self.prompt_tokens, self.prompt_cache_hit_tokens, self.prompt_cache_miss_tokens
        if p is not None and h is not None and m is not None and p != h + m:
            raise ValueError(f"prompt_tokens ({p}) must equal prompt_cache_hit_tokens ({h}) + "
                             f"prompt_cache_miss_tokens ({m})")
        if p is not None and ((h is not None and h > p) or (m is not None and m > p)):
            raise ValueError("cache hit/miss tokens cannot exceed prompt_tokens")
        c, r = self.completion_tokens, self.reasoning_tokens
        if c is not None and r is not None and r > c:
            raise ValueError(f"reasoning_tokens ({r}) cannot exceed completion_tokens ({c})")
        if self.drop not in (False, True, "close", "reset"):
            raise ValueError(f"drop must be False, True, 'close' or 'reset', got {self.drop!r}")
        if self.status != 200 and not 400 <= self.status <= 599:
            raise ValueError(f"status must be 200 or an error status, got {self.status}")

    @property
    def content_text(self) -> str:
        return _join(self.content)

    @property
    def reasoning_text(self) -> str:
        return _join(self.reasoning)


Responder = Callable[[dict[str, Any]], Reply]


@dataclass
class RecordedRequest:
    """One request as the server received it (every request, accepted or not)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    raw: bytes
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    status: int | None = None  # what the server answered (None: dropped or not answered yet)
    error: str | None = None  # the error message when the server rejected the request itself

    @property
    def is_chat(self) -> bool:
        return self.method == "POST" and self.path in ("/chat/completions", "/v1/chat/completions")


def _join(text: Text | None) -> str:
    if text is None:
        return ""
    return text if isinstance(text, str) else "".join(text)


_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """Deterministic stand-in for a tokenizer: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _prompt_tokens(body: dict[str, Any]) -> list[str]:
    """The prompt as a token list (for counting and for the prefix-cache simulation)."""
    tokens: list[str] = []
    for message in body.get("messages", []):
        tokens.append(f"<|{message.get('role')}|>")
        if message.get("role") == "assistant" and isinstance(message.get("reasoning_content"), str):
            tokens.extend(_TOKEN.findall(message["reasoning_content"]))
        tokens.extend(_TOKEN.findall(_message_text(message)))
        for call in message.get("tool_calls") or []:
            fn = call.get("function", {}) if isinstance(call, dict) else {}
            tokens.extend(_TOKEN.findall(f"{fn.get('name', '')} {fn.get('arguments', '')}"))
    if body.get("tools"):
        tokens.extend(_TOKEN.findall(json.dumps(body["tools"], sort_keys=True)))
    tokens.append("<|assistant|>")
    return tokens


def echo_reply(body: dict[str, Any]) -> Reply:
    """Default responder: echoes the last user message, deterministically."""
    question = ""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            question = _message_text(message)
            break
    return Reply(
        reasoning=f"The user wrote: {question!r}. I will echo it back.",
        content=f"Echo: {question}",
    )


def _split_deltas(text: Text | None) -> list[str]:
    """Stream pieces: the given list, or one word (with its trailing space) per delta."""
    if text is None:
        return []
    if not isinstance(text, str):
        return [piece for piece in text]
    return re.findall(r"\s*\S+\s*|\s+", text) if text else []


# --------------------------------------------------------------------------------------------------
# The server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, owner: DeepSeekWireServer):
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request, client_address):  # noqa: D401 - keep test output quiet
        pass


class DeepSeekWireServer:
    """Loopback DeepSeek chat-completions server; see the module docstring.

    Attributes:
        base_url: ``http://127.0.0.1:PORT`` (the SDK appends ``/chat/completions``); ``base_url_v1``
            adds the ``/v1`` prefix, which the server accepts as well.
        requests: every :class:`RecordedRequest`, in arrival order (``chat_requests`` / ``chat_bodies``
            keep only the chat-completion ones).
        responder: answers when the script is empty (default :func:`echo_reply`).
        errors: exceptions raised inside the server (a bug in a responder, say); each also answered 500.

    Options:
        models: the model names that exist (default ``deepseek-v4-flash``, ``deepseek-v4-pro``).
        disabled_reasoning: with thinking off, ``"omit"`` leaves ``reasoning_content`` out of the message
            and the deltas (what DeepSeek's non-thinking answers look like), ``"null"`` sends it as null.
        stream_usage: with ``stream_options.include_usage``, ``"separate"`` sends usage in an extra chunk
            with empty ``choices`` (OpenAI's documented form), ``"final"`` on the finish_reason chunk.
        cache_block: granularity of the simulated prefix cache, in estimated tokens (DeepSeek: 64).
    """

    def __init__(
        self,
        api_key: str | None = "sk-test",
        *,
        models: tuple[str, ...] | list[str] = CURRENT_MODELS,
        host: str = "127.0.0.1",
        port: int = 0,
        responder: Responder | None = None,
        disabled_reasoning: Literal["omit", "null"] = "omit",
        stream_usage: Literal["separate", "final"] = "separate",
        cache_block: int = 64,
    ) -> None:
        if disabled_reasoning not in ("omit", "null"):
            raise ValueError("disabled_reasoning must be 'omit' or 'null'")
        if stream_usage not in ("separate", "final"):
            raise ValueError("stream_usage must be 'separate' or 'final'")
        self.api_key = api_key
        self.models = tuple(models)
        self.host = host
        self.responder: Responder = responder or echo_reply
        self.disabled_reasoning = disabled_reasoning
        self.stream_usage = stream_usage
        self.cache_block = max(1, int(cache_block))
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        self._script: deque[Reply | Responder] = deque()
        self._prompts: list[list[str]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url_v1(self) -> str:
        return self.base_url + "/v1"

    def start(self) -> DeepSeekWireServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"deepseek-wire-{self.port}", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> DeepSeekWireServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting ------------------------------------------------------------------------------

    def script(self, *replies: Reply | Responder) -> DeepSeekWireServer:
        """Queue replies (or callables ``body -> Reply``) for the next accepted chat requests."""
        for reply in replies:
            if not isinstance(reply, Reply) and not callable(reply):
                raise TypeError(f"script() takes Reply objects or callables, got {type(reply).__name__}")
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        with self._lock:
            return len(self._script)

    def reset(self) -> None:
        """Forget the script, the recorded requests, the errors and the simulated cache."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.errors.clear()
            self._prompts.clear()

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.is_chat]

    @property
    def chat_bodies(self) -> list[Any]:
        return [r.body for r in self.chat_requests]

    @property
    def last_body(self) -> Any:
        chats = self.chat_requests
        if not chats:
            raise LookupError("no chat-completion request received")
        return chats[-1].body

    # -- internals used by the handler ------------------------------------------------------------

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(rec)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            item = self._script.popleft() if self._script else self.responder
        reply = item if isinstance(item, Reply) else item(body)
        if not isinstance(reply, Reply):
            raise TypeError(f"a responder returned {type(reply).__name__}, not Reply")
        return reply

    def _cache_hit(self, tokens: list[str]) -> int:
        """Longest prefix shared with an earlier prompt, in whole cache blocks; then remember it."""
        with self._lock:
            best = 0
            for earlier in self._prompts:
                n = 0
                for a, b in zip(earlier, tokens):
                    if a != b:
                        break
                    n += 1
                best = max(best, n)
            self._prompts.append(tokens)
        return (best // self.cache_block) * self.cache_block

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


# --------------------------------------------------------------------------------------------------
# Request validation


class _Reject(Exception):
    def __init__(self, status: int, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def _validate_chat(body: Any, models: tuple[str, ...]) -> bool:
    """Raise _Reject like the hosted API would; return whether thinking is enabled."""
    if not isinstance(body, dict):
        raise _Reject(422, "Failed to deserialize the JSON body into the target type: "
                           "invalid type, expected struct ChatCompletionRequest")
    if "model" not in body:
        raise _Reject(422, "Failed to deserialize the JSON body into the target type: missing field `model`")
    if "messages" not in body:
        raise _Reject(422, "Failed to deserialize the JSON body into the target type: "
                           "missing field `messages`")
    if body["model"] not in models:
        raise _Reject(400, "Model Not Exist", "model")

    thinking = body.get("thinking")
    thinking_on = True
    if thinking is not None:
        if not isinstance(thinking, dict) or thinking.get("type") not in THINKING_TYPES:
            raise _Reject(422, "Invalid thinking: expected {\"type\": \"enabled\"} or "
                               "{\"type\": \"disabled\"}", "thinking")
        thinking_on = thinking["type"] == "enabled"
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise _Reject(422, f"Invalid reasoning_effort {effort!r}: expected one of "
                           f"{', '.join(REASONING_EFFORTS)}", "reasoning_effort")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _Reject(422, "Invalid stream: expected a boolean", "stream")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise _Reject(422, "Invalid stream_options", "stream_options")

    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise _Reject(400, "Invalid messages: expected a non-empty list", "messages")
    response_format = body.get("response_format")
    if response_format is not None:
        if not isinstance(response_format, dict) or response_format.get("type") not in ("text", "json_object"):
            raise _Reject(422, "Invalid response_format: expected {\"type\": \"text\"} or "
                               "{\"type\": \"json_object\"}", "response_format")
        prompt_text = " ".join(str(m.get("content") or "") for m in messages if isinstance(m, dict))
        if response_format["type"] == "json_object" and "json" not in prompt_text.lower():
            raise _Reject(400, "Prompt must contain the word 'json' in some form to use 'response_format' of "
                               "type 'json_object'.", "response_format")
    _validate_tools(body)
    open_calls: set[str] = set()  # tool calls of the last assistant turn not answered by a tool message yet
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise _Reject(422, f"Failed to deserialize the JSON body into the target type: messages[{i}]: "
                               f"unknown variant, expected one of {', '.join(ROLES)}", f"messages[{i}]")
        role = message["role"]
        if role != "assistant" and "content" not in message:
            raise _Reject(422, f"Failed to deserialize the JSON body into the target type: messages[{i}]: "
                               "missing field `content`", f"messages[{i}]")
        if role != "tool" and open_calls:
            raise _Reject(400, "An assistant message with 'tool_calls' must be followed by tool messages "
                               "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                               f"response messages: {', '.join(sorted(map(str, open_calls)))}", f"messages[{i}]")
        if role == "assistant":
            calls = message.get("tool_calls") or []
            for j, call in enumerate(calls):
                function = call.get("function") if isinstance(call, dict) else None
                if (not isinstance(call, dict) or not call.get("id") or call.get("type", "function") != "function"
                        or not isinstance(function, dict) or not isinstance(function.get("name"), str)
                        or not isinstance(function.get("arguments"), str)):
                    raise _Reject(422, f"Failed to deserialize the JSON body into the target type: messages[{i}]."
                                       f"tool_calls[{j}]: expected {{id, type: \"function\", function: {{name, "
                                       "arguments (a string)}}}", f"messages[{i}].tool_calls[{j}]")
            if not calls and message.get("content") is None:
                raise _Reject(400, f"Invalid assistant message at messages[{i}]: content or tool_calls "
                                   "must be set", f"messages[{i}]")
            if calls and thinking_on and not message.get("reasoning_content"):
                raise _Reject(400, f"Missing `reasoning_content` field in the assistant message at "
                                   f"message index {i}. In thinking mode, the reasoning_content of a turn "
                                   "that made tool calls must be passed back to the API.",
                              f"messages[{i}].reasoning_content")
            open_calls = {c.get("id") for c in calls if isinstance(c, dict)}
        elif role == "tool":
            if message.get("tool_call_id") not in open_calls:
                raise _Reject(400, "Messages with role 'tool' must be a response to a preceding message "
                                   "with 'tool_calls'", f"messages[{i}]")
            open_calls = open_calls - {message.get("tool_call_id")}
        else:
            open_calls = set()
    if open_calls:
        raise _Reject(400, "An assistant message with 'tool_calls' must be followed by tool messages responding "
                           f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                           f"{', '.join(sorted(map(str, open_calls)))}", "messages")
    return thinking_on


def _check_tool_reply(body: dict[str, Any], reply: Reply) -> None:
    """A scripted answer the real API could not give is a bug in the test: raised (the server answers 500 and
    records it in ``errors``). Tool calls need offered tools and a tool_choice other than "none"; "required"
    or a named function needs a call."""
    choice = body.get("tool_choice")
    if reply.tool_calls and not body.get("tools"):
        raise ValueError("a scripted reply makes tool calls, but the request offered no tools")
    if reply.tool_calls and choice == "none":
        raise ValueError('a scripted reply makes tool calls, but the request said tool_choice "none"')
    if not reply.tool_calls and (choice == "required" or isinstance(choice, dict)):
        raise ValueError(f"the request forces a tool call (tool_choice {choice!r}), but the scripted reply makes none")


_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOOL_CHOICES = ("none", "auto", "required")


def _validate_tools(body: dict[str, Any]) -> set[str]:
    """``tools`` and ``tool_choice`` as the API documents them; the names of the offered functions."""
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            raise _Reject(422, "Invalid tools: expected a list", "tools")
        for k, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
                raise _Reject(422, f"Invalid tools[{k}]: expected {{\"type\": \"function\", \"function\": "
                                   "{...}}", f"tools[{k}]")
            name = function.get("name")
            if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
                raise _Reject(400, f"Invalid tools[{k}].function.name {name!r}: a-z, A-Z, 0-9, underscores and "
                                   "dashes, at most 64 characters", f"tools[{k}].function.name")
            if name in names:
                raise _Reject(400, f"Duplicate function name {name!r} in tools", f"tools[{k}].function.name")
            parameters = function.get("parameters")
            if parameters is not None and not isinstance(parameters, dict):
                raise _Reject(422, f"Invalid tools[{k}].function.parameters: expected a JSON Schema object",
                              f"tools[{k}].function.parameters")
            names.add(name)
    choice = body.get("tool_choice")
    if choice is not None:
        if not names:
            raise _Reject(400, "Invalid tool_choice: tool_choice is only allowed when tools are specified",
                          "tool_choice")
        named = choice.get("function", {}).get("name") if isinstance(choice, dict) and \
            choice.get("type") == "function" and isinstance(choice.get("function"), dict) else None
        if choice not in TOOL_CHOICES and named is None:
            raise _Reject(422, "Invalid tool_choice: expected \"none\", \"auto\", \"required\" or "
                               "{\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice")
        if named is not None and named not in names:
            raise _Reject(400, f"Invalid tool_choice: no tool named {named!r} in tools", "tool_choice")
    return names


def _error_body(status: int, message: str | None, type_: str | None = None,
                param: str | None = None) -> bytes:
    default_message, default_type = ERROR_DEFAULTS.get(status, ("Error", "api_error"))
    payload = {"error": {"message": message or default_message, "type": type_ or default_type,
                         "param": param, "code": "invalid_request_error"}}
    return _dumps(payload)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------------------------------
# The handler


class _Dropped(Exception):
    """The reply asked for the connection to be dropped (already done)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "verirag-deepseek-wire/1"
    sys_version = ""
    timeout = 30  # idle keep-alive connections end on their own

    server: _HTTPServer

    # quiet
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.owner._lock:
            self.server.owner._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        with self.server.owner._lock:
            self.server.owner._connections.discard(self.connection)

    @property
    def owner(self) -> DeepSeekWireServer:
        return self.server.owner

    # -- entry points ------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        raw = self._read_body()
        path = self.path.split("?", 1)[0]
        body: Any = None
        parse_error: str | None = None
        if raw:
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                parse_error = str(exc)
        rec = RecordedRequest(
            method=self.command, path=path, raw=raw, body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        self.owner._record(rec)
        try:
            self._route(rec, parse_error)
        except _Dropped:
            rec.status = None
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in a responder or in this server: report, answer 500
            self.owner.errors.append(exc)
            try:
                self._send_error(rec, 500, f"loopback server error: {exc!r}")
            except OSError:
                self.close_connection = True

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self, rec: RecordedRequest, parse_error: str | None) -> None:
        chat = rec.path in ("/chat/completions", "/v1/chat/completions")
        models = rec.path in ("/models", "/v1/models")
        if not (chat and rec.method == "POST") and not (models and rec.method == "GET"):
            self._send_error(rec, 404, f"Not Found: {rec.method} {rec.path}")
            return
        if not self._authorized():
            key = self.headers.get("Authorization", "")
            tail = key[-4:] if key.startswith("Bearer ") and len(key) > 11 else ""
            message = (f"Authentication Fails, Your api key: ****{tail} is invalid" if tail
                       else "Authentication Fails (no such user)")
            self._send_error(rec, 401, message)
            return
        if models:
            data = [{"id": m, "object": "model", "owned_by": "deepseek"} for m in self.owner.models]
            self._send_json(rec, 200, _dumps({"object": "list", "data": data}))
            return
        if parse_error is not None or not rec.raw:
            self._send_error(rec, 400, f"Invalid Format: failed to parse the request body as JSON: "
                                       f"{parse_error or 'empty body'}")
            return
        try:
            thinking_on = _validate_chat(rec.body, self.owner.models)
        except _Reject as rej:
            self._send_error(rec, rej.status, rej.message, param=rej.param)
            return
        self._answer_chat(rec, rec.body, thinking_on)

    def _authorized(self) -> bool:
        if self.owner.api_key is None:
            return True
        return self.headers.get("Authorization", "") == f"Bearer {self.owner.api_key}"

    # -- low-level writing ----------------------------------------------------------------------------

    def _send_json(self, rec: RecordedRequest, status: int, payload: bytes,
                   extra_headers: dict[str, str] | None = None,
                   content_type: str = "application/json") -> None:
        # Recorded before the bytes go out: a client that has read the reply may look at the record at once
        # (a test asserting on the status raced this thread when it was set after the write).
        rec.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (extra_headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            rec.status = None  # the client was gone: nothing was answered
            raise

    def _send_error(self, rec: RecordedRequest, status: int, message: str | None,
                    type_: str | None = None, param: str | None = None,
                    extra_headers: dict[str, str] | None = None) -> None:
        rec.error = message
        self._send_json(rec, status, _error_body(status, message, type_, param), extra_headers)

    def _start_chunked(self, status: int, content_type: str, extra_headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop(self, how: bool | str, rec: RecordedRequest | None = None) -> None:
        # The record says "no answer" before the socket closes: a client that sees the drop at once
        # must not read the status of the headers sent before it.
        if rec is not None:
            rec.status = None
        self.close_connection = True
        try:
            self.wfile.flush()
            if how == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Dropped()

    # -- chat answers ---------------------------------------------------------------------------------

    def _answer_chat(self, rec: RecordedRequest, body: dict[str, Any], thinking_on: bool) -> None:
        owner = self.owner
        reply = owner._next_reply(body)
        owner._sleep(reply.delay)
        if owner._stopping.is_set():
            self._drop("close")

        if reply.status != 200:
            if reply.drop:
                self._drop(reply.drop)
            headers = dict(reply.headers)
            if reply.retry_after is not None:
                headers["Retry-After"] = str(reply.retry_after)
            if reply.raw_body is not None:
                rec.error = reply.raw_body.decode("utf-8", "replace")
                self._send_json(rec, reply.status, reply.raw_body, headers, reply.raw_content_type)
            else:
                self._send_error(rec, reply.status, reply.error_message, reply.error_type,
                                 extra_headers=headers)
            return

        _check_tool_reply(body, reply)
        if reply.drop and reply.keepalives == 0 and (not body.get("stream") or reply.drop_after_chunks == 0):
            self._drop(reply.drop)  # nothing sent: the client sees a connection error at once

        completion = _Completion(owner, body, reply, thinking_on)
        if body.get("stream"):
            self._stream(rec, body, reply, completion)
        else:
            self._non_stream(rec, reply, completion)

    def _non_stream(self, rec: RecordedRequest, reply: Reply, completion: _Completion) -> None:
        self._start_chunked(200, "application/json", reply.headers)
        rec.status = 200
        for i in range(reply.keepalives):
            if i:
                self.owner._sleep(reply.keepalive_interval)
            self._chunk(b"\n")
        if reply.drop:
            self._drop(reply.drop, rec)
        if reply.keepalives:
            self.owner._sleep(reply.keepalive_interval)
        self._chunk(_dumps(completion.message_payload()))
        self._end_chunked()

    def _stream(self, rec: RecordedRequest, body: dict[str, Any], reply: Reply,
                completion: _Completion) -> None:
        headers = {"Cache-Control": "no-cache", **reply.headers}
        self._start_chunked(200, "text/event-stream; charset=utf-8", headers)
        rec.status = 200
        for i in range(reply.keepalives):
            if i:
                self.owner._sleep(reply.keepalive_interval)
            self._chunk(b": keep-alive\n\n")
        if reply.keepalives:
            self.owner._sleep(reply.keepalive_interval)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        for n, chunk in enumerate(completion.stream_chunks(include_usage, self.owner.stream_usage)):
            if reply.drop and n >= reply.drop_after_chunks:
                self._drop(reply.drop, rec)
            if n and reply.delta_interval:
                self.owner._sleep(reply.delta_interval)
            self._chunk(b"data: " + _dumps(chunk) + b"\n\n")
        if reply.drop:
            self._drop(reply.drop, rec)
        self._chunk(b"data: [DONE]\n\n")
        self._end_chunked()


class _Completion:
    """A reply resolved against its request: ids, usage numbers, message and chunks."""

    def __init__(self, owner: DeepSeekWireServer, body: dict[str, Any], reply: Reply, thinking_on: bool):
        self.owner = owner
        self.reply = reply
        self.thinking_on = thinking_on
        self.id = str(uuid.uuid4())
        self.created = int(time.time())
        self.model = reply.model or body["model"]
        self.tool_calls = [self._tool_call(i, c) for i, c in enumerate(reply.tool_calls or [])]
        self.finish_reason = reply.finish_reason or ("tool_calls" if self.tool_calls else "stop")
        self.usage = self._usage(body)

    @staticmethod
    def _tool_call(index: int, call: dict[str, Any]) -> dict[str, Any]:
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        return {
            "index": index,
            "id": call.get("id") or f"call_{index:02d}_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call["name"], "arguments": arguments},
        }

    def _usage(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.reply
        tokens = _prompt_tokens(body)
        simulated_hit = self.owner._cache_hit(tokens)
        hit, miss = r.prompt_cache_hit_tokens, r.prompt_cache_miss_tokens
        if r.prompt_tokens is not None:
            prompt = r.prompt_tokens
        elif hit is not None and miss is not None:
            prompt = hit + miss
        else:
            prompt = max(len(tokens), hit or 0, miss or 0)
        if hit is None and miss is None:
            hit = min(simulated_hit, prompt)
        if hit is None:
            hit = prompt - miss
        if miss is None:
            miss = prompt - hit
        assert prompt == hit + miss and hit >= 0 and miss >= 0, (prompt, hit, miss)

        reasoning_tokens = r.reasoning_tokens
        if reasoning_tokens is None:
            reasoning_tokens = estimate_tokens(r.reasoning_text) if self.thinking_on else 0
        completion = r.completion_tokens
        if completion is None:
            answer = r.content_text + "".join(c["function"]["name"] + c["function"]["arguments"]
                                              for c in self.tool_calls)
            completion = reasoning_tokens + estimate_tokens(answer)
        if reasoning_tokens > completion:
            raise ValueError(f"reasoning_tokens ({reasoning_tokens}) > completion_tokens ({completion})")
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": hit},
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "prompt_cache_hit_tokens": hit,
            "prompt_cache_miss_tokens": miss,
        }

    def _with_reasoning(self, obj: dict[str, Any], value: str | None) -> dict[str, Any]:
        if self.thinking_on:
            obj["reasoning_content"] = value
        elif self.owner.disabled_reasoning == "null":
            obj["reasoning_content"] = None
        return obj

    def message_payload(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply.content_text}
        self._with_reasoning(message, self.reply.reasoning_text)
        if self.tool_calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in self.tool_calls]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": self.finish_reason}],
            "usage": self.usage,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def _chunk(self, delta: dict[str, Any] | None, finish_reason: str | None = None,
               usage: dict[str, Any] | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [] if delta is None else [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if usage is not None:
            chunk["usage"] = usage
        return chunk

    def stream_chunks(self, include_usage: bool, stream_usage: str) -> list[dict[str, Any]]:
        reply = self.reply
        chunks = [self._chunk(self._with_reasoning({"role": "assistant", "content": None if self.thinking_on
                                                    else ""}, ""))]
        if self.thinking_on:
            for piece in _split_deltas(reply.reasoning):
                chunks.append(self._chunk({"content": None, "reasoning_content": piece}))
        for piece in _split_deltas(reply.content):
            chunks.append(self._chunk(self._with_reasoning({"content": piece}, None)))
        for call in self.tool_calls:
            args = call["function"]["arguments"]
            head = {"index": call["index"], "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}
            chunks.append(self._chunk(self._with_reasoning({"content": None, "tool_calls": [head]}, None)))
            step = max(1, math.ceil(len(args) / 3))
            for start in range(0, len(args), step):
                piece = {"index": call["index"], "function": {"arguments": args[start:start + step]}}
                chunks.append(self._chunk(self._with_reasoning({"content": None, "tool_calls": [piece]},
                                                               None)))
        final_usage = self.usage if include_usage and stream_usage == "final" else None
        chunks.append(self._chunk(self._with_reasoning({"content": ""}, None), self.finish_reason, final_usage))
        if include_usage and stream_usage == "separate":
            chunks.append(self._chunk(None, usage=self.usage))
        return chunks


# --------------------------------------------------------------------------------------------------
# pytest fixture (import it into a test module: ``from tests.support.deepseek_server import deepseek_server``)

try:
    import pytest
except ImportError:  # pragma: no cover - the module also works outside pytest
    pass
else:

    @pytest.fixture
    def deepseek_server():
        """A started :class:`DeepSeekWireServer` with api key ``sk-test``."""
        with DeepSeekWireServer(api_key="sk-test") as server:
            yield server


def label_holding(system: str, phrase: str) -> str:
    """The [S#] label of the source block in a RAG system prompt that contains ``phrase``: how a scripted
    reply cites the right passage whatever order retrieval put it in."""
    for block in re.split(r"(?=^\[S\d+\])", system, flags=re.MULTILINE):
        match = re.match(r"\[(S\d+)\]", block)
        if match and phrase in block:
            return match.group(1)
    raise AssertionError(f"no source in the prompt holds {phrase!r}")

