"""Moderation hooks for the API tests, loaded the way a deployment loads its own:
``VERIRAG_API_MODERATION=tests.api.moderation_hooks:ScriptedModerator``.

A test scripts what each stage decides (``SCRIPT["question"] = Decision.refuse(...)``; a callable is
called with the text; an exception is raised) and reads what the hook was asked in ``CALLS``.
"""

from __future__ import annotations

from typing import Any

from api.moderation import Decision, ModerationContext

SCRIPT: dict[str, Any] = {}
CALLS: list[dict[str, Any]] = []


def reset() -> None:
    SCRIPT.clear()
    CALLS.clear()


def _decide(stage: str, text: str) -> Any:
    planned = SCRIPT.get(stage)
    if isinstance(planned, BaseException):
        raise planned
    if callable(planned):
        return planned(text)
    return planned  # None allows


class ScriptedModerator:
    """The class form: built once at startup with no arguments."""

    def check_question(self, question: str, context: ModerationContext) -> Decision:
        CALLS.append({"stage": "question", "question": question, "context": context})
        return _decide("question", question)

    def check_answer(self, question: str, answer: str, context: ModerationContext) -> Decision:
        CALLS.append({"stage": "answer", "question": question, "answer": answer, "context": context})
        return _decide("answer", answer)


def keyword_filter(stage: str, question: str, answer: str | None, context: ModerationContext) -> dict | None:
    """The function form, answering the callback's JSON shape: refuses questions about passwords, redacts
    the digits of answers."""
    if stage == "question" and "password" in question.lower():
        return {"action": "refuse", "message": "questions about passwords are not answered here",
                "reason": "keyword:password"}
    if stage == "answer" and any(ch.isdigit() for ch in answer or ""):
        return {"action": "redact", "text": "".join("#" if ch.isdigit() else ch for ch in answer),
                "reason": "digits"}
    return None
