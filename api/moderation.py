"""The moderation hook's contract and its three kinds: allow everything, a Python object, an HTTP callback.

A moderator sees the question before anything is retrieved and the answer before it is returned, and
decides for each: allow it, refuse it (with a message for the client and a reason for the audit log), or
redact it (with the text to use instead). ``VERIRAG_API_MODERATION`` picks the kind:

* unset — :class:`AllowAll`, the built-in default: refuses nothing and costs nothing;
* ``package.module:attr`` — :class:`PythonModerator`: ``attr`` is an object with ``check_question`` and
  ``check_answer``, a class of such objects (built with no arguments), or a function
  ``fn(stage, question, answer, context)``;
* ``http://…`` or ``https://…`` — :class:`HttpModerator`: each check is one POST of JSON to that URL.

A hook answers a :class:`Decision`, a dict of the callback's shape (``{"action", "message", "text",
"reason"}``), or None (allow). Anything else, an exception, an HTTP error or a timeout is a
:class:`ModerationError`: what then happens (refuse or allow) is ``api.moderation_gate``'s policy, not
the hook's.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Protocol

import httpx

Action = Literal["allow", "refuse", "redact"]
Stage = Literal["question", "answer"]
ACTIONS: tuple[Action, ...] = ("allow", "refuse", "redact")
DEFAULT_REFUSAL = "the request was refused by this server's content policy"


class ModerationError(Exception):
    """The hook failed, timed out or answered something that is not a decision."""


@dataclass(frozen=True)
class Decision:
    action: Action = "allow"
    message: str | None = None  # refuse: what the client reads
    text: str | None = None  # redact: the text that replaces the question or the answer
    reason: str | None = None  # for the audit log, never sent to the client

    @classmethod
    def allow(cls) -> Decision:
        return cls("allow")

    @classmethod
    def refuse(cls, message: str = DEFAULT_REFUSAL, reason: str | None = None) -> Decision:
        return cls("refuse", message=message, reason=reason)

    @classmethod
    def redact(cls, text: str, reason: str | None = None) -> Decision:
        return cls("redact", text=text, reason=reason)

    @classmethod
    def from_json(cls, data: Any) -> Decision:
        """The decision a callback's JSON (or a Python hook's dict) states; ModerationError when it states none."""
        if not isinstance(data, Mapping):
            raise ModerationError(f"the hook answered {type(data).__name__}, not an object with an action")
        action = data.get("action")
        if action not in ACTIONS:
            raise ModerationError(f"the hook answered action {action!r}; it must be one of {', '.join(ACTIONS)}")
        reason = _optional_text(data, "reason")
        if action == "refuse":
            return cls.refuse(_optional_text(data, "message") or DEFAULT_REFUSAL, reason)
        if action == "redact":
            text = data.get("text")
            # An empty redaction would turn a question into no question: a hook that means that refuses.
            if not isinstance(text, str) or not text.strip():
                raise ModerationError("the hook redacted without giving the text to use instead")
            return cls.redact(text, reason)
        return cls.allow()

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "message": self.message, "text": self.text, "reason": self.reason}


def _optional_text(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None or isinstance(value, str):
        return value
    raise ModerationError(f"the hook's {field!r} is {type(value).__name__}, not a string")


@dataclass(frozen=True)
class ModerationContext:
    """Who asked, where: what a moderator may base its decision on besides the text."""

    key_id: str
    collection: str | None
    route: str  # "query" or "chat"
    request_id: str | None = None


class Moderator(Protocol):
    def check_question(self, question: str, context: ModerationContext) -> Decision: ...

    def check_answer(self, question: str, answer: str, context: ModerationContext) -> Decision: ...


class AllowAll:
    """The built-in default: every question and answer passes unchanged."""

    kind = "none"

    def check_question(self, question: str, context: ModerationContext) -> Decision:
        return Decision.allow()

    def check_answer(self, question: str, answer: str, context: ModerationContext) -> Decision:
        return Decision.allow()


def as_decision(value: Any) -> Decision:
    """What a hook returned, as a Decision: None allows, a dict is read like the callback's JSON."""
    if value is None:
        return Decision.allow()
    if isinstance(value, Decision):
        return value
    return Decision.from_json(value)


class PythonModerator:
    """A moderator named by an entry point string, ``package.module:attr`` (``attr`` may be dotted)."""

    kind = "python"

    def __init__(self, spec: str):
        self.spec = spec
        target = load_entry_point(spec)
        if inspect.isclass(target):
            target = target()
        self._object: Any = None
        self._function: Callable[..., Any] | None = None
        if callable(getattr(target, "check_question", None)) and callable(getattr(target, "check_answer", None)):
            self._object = target
        elif callable(target):
            self._function = target
        else:
            raise ValueError(f"moderation hook {spec!r} has neither check_question/check_answer nor is callable")

    def check_question(self, question: str, context: ModerationContext) -> Decision:
        if self._object is not None:
            return as_decision(self._object.check_question(question, context))
        return as_decision(self._function("question", question, None, context))

    def check_answer(self, question: str, answer: str, context: ModerationContext) -> Decision:
        if self._object is not None:
            return as_decision(self._object.check_answer(question, answer, context))
        return as_decision(self._function("answer", question, answer, context))

    def close(self) -> None:
        closing = getattr(self._object, "close", None)
        if callable(closing):
            closing()


def load_entry_point(spec: str) -> Any:
    """The object ``package.module:attr`` names; ValueError saying what is wrong (checked at startup)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"moderation hook {spec!r} must read package.module:attr")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"moderation hook {spec!r}: cannot import {module_name!r}: {error}") from error
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"moderation hook {spec!r}: {module_name!r} has no {attribute!r}") from None
    return target


class HttpModerator:
    """Each check POSTs ``{"stage", "question", "answer", "key_id", "collection", "route", "request_id"}`` to
    ``url`` and reads ``{"action", "message", "text", "reason"}`` from a 2xx answer. Redirects are not
    followed (a callback that moved is a misconfiguration, not something to chase)."""

    kind = "http"

    def __init__(self, url: str, timeout_s: float, transport: httpx.BaseTransport | None = None):
        self.url = url
        self.timeout_s = timeout_s
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False, transport=transport)

    def check_question(self, question: str, context: ModerationContext) -> Decision:
        return self._post(_payload("question", question, None, context))

    def check_answer(self, question: str, answer: str, context: ModerationContext) -> Decision:
        return self._post(_payload("answer", question, answer, context))

    def _post(self, payload: dict[str, Any]) -> Decision:
        # The URL stays out of every message: it may carry a token, and messages reach logs.
        try:
            response = self._client.post(self.url, json=payload)
        except httpx.TimeoutException:
            raise ModerationError(f"the moderation callback did not answer within {self.timeout_s:g}s") from None
        except httpx.HTTPError as error:
            raise ModerationError(f"the moderation callback could not be reached ({type(error).__name__})") from None
        if not response.is_success:
            raise ModerationError(f"the moderation callback answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise ModerationError("the moderation callback answered something that is not JSON") from None
        return Decision.from_json(data)

    def close(self) -> None:
        self._client.close()


def _payload(stage: Stage, question: str, answer: str | None, context: ModerationContext) -> dict[str, Any]:
    return {"stage": stage, "question": question, "answer": answer, "key_id": context.key_id,
            "collection": context.collection, "route": context.route, "request_id": context.request_id}


def moderator_for(spec: str | None, timeout_s: float) -> Moderator:
    """The moderator ``VERIRAG_API_MODERATION`` names (ValueError for one that cannot be loaded)."""
    if not spec:
        return AllowAll()
    if spec.startswith(("http://", "https://")):
        return HttpModerator(spec, timeout_s)
    return PythonModerator(spec)
