"""One reasoning normaliser for every response shape, and a streaming splitter that agrees with it.

Models hand their chain of thought back in different places (README, "Models"): a field beside
the content (``reasoning_content`` from DeepSeek and llama.cpp, ``reasoning`` from newer vLLM,
``thinking`` from Ollama's native API), ``<think>…</think>`` inside the content (R1 open weights, which
sometimes drop the opening tag because the chat template already emitted it), or, for plain models
that have no trace of their own, the delimiters below, which the prompt builder asks them to use.
Everything above the backend speaks only ``(reasoning, answer)``.

Rules (a field present wins, then tags; style only breaks ties):

* A reasoning field holding a non-empty string wins: it is the reasoning and the content is the answer
  as-is. Fields are tried as ``reasoning_content``, ``reasoning``, ``thinking``; vLLM versions that send
  two of them with the same text are read once. Non-string fields are ignored.
* Otherwise the content is parsed. ``<think>R</think>A`` and ``<reasoning>R</reasoning><answer>A</answer>``
  at the start of the content work under every style. ``<answer>`` tags are optional; a reasoning
  section missing its close ends at ``<answer>``; text after ``</answer>`` is dropped (chatter). Inside
  a section only the tags that end it count, and after a closed section only answer tags count, so an
  answer may quote ``<think>`` and reasoning may mention ``<think>``.
* Text before the first tag is the one real tie: ``R</think>A`` (R1 without its opening tag, which its
  chat template already emitted) or ``R<answer>A`` (a plain model that skipped ``<reasoning>``) cannot be
  told from an answer until the tag arrives. Under ``think_tags`` and ``prompted`` the model is expected
  to reason first, so every tag counts there: leading text is reasoning when ``</think>``,
  ``</reasoning>`` or ``<answer>`` follows it, answer when an opening tag follows it (the splitter holds
  it back until it knows). Under ``native`` and ``none`` the content is expected to be the answer: only
  an opening tag at its very start counts, anything else makes the whole content the answer, verbatim,
  and it streams at once (otherwise every thinking-off answer would be held to the end). A server that
  leaves raw R1 output in the content needs the ``think_tags`` style.
* An opened section that never closes (``<think>R``, or ``<reasoning>R`` with no ``<answer>``) is all
  reasoning and the answer is "", whatever the finish reason: the model was cut off (usually
  ``finish_reason == "length"``) or broke down mid-thought, so it never answered, and promoting chain of
  thought to the answer would show unverified musings as one. The caller sees an empty answer beside
  the finish reason and may retry. It is also the only rule a stream can honour: the reasoning has been
  shown by the time the stream ends.
* No tags at all: the whole content is the answer, reasoning "". Missing or malformed reasoning is
  "no trace", never an exception. Both parts are stripped.

``normalise_message`` runs the same state machine as ``StreamSplitter`` over the whole content, so a
stream and the finished message can never disagree, however the chunks fall.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rag.types import Usage

REASONING_OPEN = "<reasoning>"
REASONING_CLOSE = "</reasoning>"
ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

STYLES = frozenset({"native", "think_tags", "prompted", "none"})
REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")

Event = tuple[str, str]  # ("reasoning" | "answer", text)

_ALL_TAGS = (THINK_OPEN, THINK_CLOSE, REASONING_OPEN, REASONING_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
_LONGEST_TAG = max(len(tag) for tag in _ALL_TAGS)

_OPENERS = (THINK_OPEN, REASONING_OPEN, ANSWER_OPEN)

# States of the content parser and the tags each one listens for. _START (native, none) only looks for an
# opening tag at the very start; _LEAD (think_tags, prompted) holds leading text until a tag decides it.
_START, _LEAD, _PLAIN, _THINK, _REASON, _AFTER, _TAGGED, _DONE, _FIELD = range(9)
_WATCH: dict[int, tuple[str, ...]] = {
    _LEAD: _ALL_TAGS,
    _PLAIN: (),
    _THINK: (THINK_CLOSE,),
    _REASON: (REASONING_CLOSE, ANSWER_OPEN),
    _AFTER: (ANSWER_OPEN, ANSWER_CLOSE),
    _TAGGED: (ANSWER_CLOSE,),
    _DONE: (),
    _FIELD: (),
}
_CHANNEL = {_START: "answer", _LEAD: "answer", _PLAIN: "answer", _THINK: "reasoning", _REASON: "reasoning",
            _AFTER: "answer", _TAGGED: "answer", _DONE: None, _FIELD: "answer"}
_NEXT = {THINK_OPEN: _THINK, REASONING_OPEN: _REASON, THINK_CLOSE: _AFTER, REASONING_CLOSE: _AFTER,
         ANSWER_OPEN: _TAGGED, ANSWER_CLOSE: _DONE}
_LEAD_IS_REASONING = (THINK_CLOSE, REASONING_CLOSE, ANSWER_OPEN)  # tags that reveal a missing opener


def _check_style(style: str) -> str:
    """A wrong style is a configuration bug, not model output: say so at once."""
    if style not in STYLES:
        raise ValueError(f"unknown reasoning style {style!r}; expected one of {sorted(STYLES)}")
    return style


def _get(obj: Any, name: str) -> Any:
    """Read a field from a dict or an SDK object; provider extras live in pydantic's ``model_extra``."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    try:
        value = getattr(obj, name, None)
    except Exception:  # an odd object must not turn "no trace" into an error
        value = None
    if value is None:
        extra = getattr(obj, "model_extra", None)
        if isinstance(extra, Mapping):
            value = extra.get(name)
    return value


def _text(value: Any) -> str:
    """A string, or the text parts of a content list; anything else is no text."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        parts = (part if isinstance(part, str) else _get(part, "text") for part in value)
        return "".join(part for part in parts if isinstance(part, str))
    return ""


def _field_reasoning(obj: Any) -> str:
    for name in REASONING_FIELDS:
        text = _text(_get(obj, name))
        if text:
            return text
    return ""


def _find(buf: str, tags: tuple[str, ...], start: int) -> tuple[int, str] | None:
    """The earliest tag in ``buf`` (no tag is a prefix of another, so there are no ties)."""
    hits = [(i, tag) for tag in tags if (i := buf.find(tag, start)) >= 0]
    return min(hits) if hits else None


def _partial_tag(buf: str, tags: tuple[str, ...]) -> int:
    """Length of the longest tail of ``buf`` that could still grow into a tag: held, never emitted."""
    for size in range(min(len(buf), _LONGEST_TAG - 1), 0, -1):
        tail = buf[-size:]
        if any(tag.startswith(tail) for tag in tags):
            return size
    return 0


class StreamSplitter:
    """Turns chat-completions deltas into ``("reasoning", text)`` / ``("answer", text)`` events.

    Tags split across chunks ("<thi" + "nk>") are held until they resolve; leading whitespace of each
    channel is dropped so a client never renders the newline after ``<think>``. Joining each channel's
    events and stripping gives exactly what ``normalise_message`` returns for the joined message.
    A field delta switches to field mode for good: later content is answer text, tags and all.
    """

    def __init__(self, style: str = "none") -> None:
        self._state = _LEAD if _check_style(style) in ("think_tags", "prompted") else _START
        self._buf = ""  # content not yet classified: a partial tag, or the undecided lead
        self._searched = 0  # how far the undecided lead has been searched for tags
        self._started = {"reasoning": False, "answer": False}

    def feed(self, delta: Mapping[str, Any] | Any) -> list[Event]:
        out: list[Event] = []
        field = _field_reasoning(delta)
        if field:
            if self._state != _FIELD:  # the field wins: held content is answer as it stands
                self._emit(out, _CHANNEL[self._state], self._buf)
                self._buf, self._state = "", _FIELD
            self._emit(out, "reasoning", field)
        content = _text(_get(delta, "content"))
        if content and self._state == _FIELD:
            self._emit(out, "answer", content)
        elif content:
            self._buf += content
            self._scan(out, final=False)
        return out

    def finish(self) -> list[Event]:
        """Flush what was held: an undecided lead is answer, a partial tag is plain text."""
        out: list[Event] = []
        self._scan(out, final=True)
        return out

    def _emit(self, out: list[Event], channel: str | None, text: str) -> None:
        if not text or channel is None:
            return
        if not self._started[channel]:
            text = text.lstrip()
            if not text:
                return
            self._started[channel] = True
        out.append((channel, text))

    def _scan(self, out: list[Event], final: bool) -> None:
        while self._buf:
            if self._state == _START:
                if not self._start(final):
                    return
                continue
            tags = _WATCH[self._state]
            start = self._searched if self._state == _LEAD else 0
            hit = _find(self._buf, tags, start)
            if hit is None:
                if self._state == _LEAD and not final:  # wait for the tag that decides the lead
                    self._searched = max(0, len(self._buf) - _LONGEST_TAG + 1)
                    return
                keep = 0 if final else _partial_tag(self._buf, tags)
                self._emit(out, _CHANNEL[self._state], self._buf[: len(self._buf) - keep])
                self._buf = self._buf[len(self._buf) - keep :]
                return
            index, tag = hit
            before, self._buf = self._buf[:index], self._buf[index + len(tag) :]
            if self._state == _LEAD and tag in _LEAD_IS_REASONING:
                self._emit(out, "reasoning", before)
            else:
                self._emit(out, _CHANNEL[self._state], before)
            self._state, self._searched = _NEXT[tag], 0

    def _start(self, final: bool) -> bool:
        """Native/none: an opening tag right at the start opens a section, else all is plain answer.

        Returns whether to keep scanning; False while whitespace or a partial opener is all there is.
        """
        text = self._buf.lstrip()
        for tag in _OPENERS:
            if text.startswith(tag):
                self._buf, self._state = text[len(tag) :], _NEXT[tag]
                return True
        if not final and (not text or any(tag.startswith(text) for tag in _OPENERS)):
            return False
        self._state = _PLAIN
        return True


def collect(events: list[Event]) -> tuple[str, str]:
    """Join a list of events into ``(reasoning, answer)``, stripped like ``normalise_message``."""
    reasoning = "".join(text for channel, text in events if channel == "reasoning")
    answer = "".join(text for channel, text in events if channel == "answer")
    return reasoning.strip(), answer.strip()


def normalise_message(message: Mapping[str, Any] | Any, style: str) -> tuple[str, str]:
    """``(reasoning, answer)`` from a ``choices[0].message`` (dict or SDK object); rules in the module doc.

    A bare string is taken as the content. Never raises on model output; only an unknown style raises.
    """
    _check_style(style)
    if message is None:
        return "", ""
    if isinstance(message, str):
        message = {"content": message}
    field = _field_reasoning(message)
    content = _text(_get(message, "content"))
    if field:
        return field.strip(), content.strip()
    splitter = StreamSplitter(style)
    return collect(splitter.feed({"content": content}) + splitter.finish())


def _count(value: Any) -> int | None:
    """A token count, or None for anything that is not a non-negative whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def usage_from_response(usage: Mapping[str, Any] | Any | None) -> Usage:
    """A ``Usage`` from any provider's usage block; absent counts are 0, absent cache figures None.

    Cache hits come from DeepSeek's ``prompt_cache_hit_tokens``, else from the OpenAI-style
    ``prompt_tokens_details.cached_tokens`` that llama.cpp and vLLM report. Misses are only ever
    DeepSeek's ``prompt_cache_miss_tokens``: None means the provider did not say.
    """
    if usage is None:
        return Usage()
    reasoning = _count(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
    if reasoning is None:
        reasoning = _count(_get(usage, "reasoning_tokens"))
    hit = _count(_get(usage, "prompt_cache_hit_tokens"))
    if hit is None:
        hit = _count(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
    return Usage(
        prompt_tokens=_count(_get(usage, "prompt_tokens")) or 0,
        completion_tokens=_count(_get(usage, "completion_tokens")) or 0,
        reasoning_tokens=reasoning or 0,
        cache_hit_tokens=hit,
        cache_miss_tokens=_count(_get(usage, "prompt_cache_miss_tokens")),
    )
