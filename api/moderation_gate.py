"""The moderation hook applied to requests: a deadline on every check, the error policy, the audit lines,
and what a refusal or a redaction does to a question or an answer.

* The hook runs on its own threads under ``VERIRAG_API_MODERATION_TIMEOUT_S``: a hook that hangs (or
  a callback that never answers) is given up at the deadline, so it never holds a request.
* A hook that fails, times out or answers nonsense follows ``VERIRAG_API_MODERATION_ON_ERROR``:
  ``refuse`` (the default) answers 503 ``moderation_unavailable``, ``allow`` lets the text through
  unchecked. Both are audited. Refusing is the default because a deployment configures a hook to
  enforce a policy: a policy that silently stops applying while its service is down is the worse
  failure, and an outage is visible and retried, where content let through cannot be called back.
* A refusal is 400 ``refused_by_moderation`` with the hook's message, audited with the hook's reason
  (outcome ``refused``); a redaction replaces the text and is audited (outcome ``redacted``) without
  the text it replaced, which is what the hook wanted kept out.
* A redacted answer leaves without the model's reasoning trace and with its verdict's claims withheld:
  both quote the answer that was redacted. The citations are read again from the new text.

The default hook (allow everything) is never called: no thread hop, no audit line.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

from rag.citations import resolve_citations
from rag.pipeline import AnswerResult

from api.audit import AuditLog
from api.errors import ApiError, retry_after_header
from api.moderation import AllowAll, Decision, ModerationContext, ModerationError, Moderator, Stage

log = logging.getLogger("api.moderation")

MAX_THREADS = 16  # created as needed; a check queued behind busy ones still ends at its deadline
UNAVAILABLE_RETRY_AFTER_S = 5
REDACTED_VERDICT_WARNING = ("the answer was redacted by the moderation hook; the verdict judged the original "
                            "answer, whose claims are withheld")


class ModerationGate:
    def __init__(self, moderator: Moderator, timeout_s: float, on_error: str, audit: AuditLog):
        if on_error not in ("refuse", "allow"):
            raise ValueError(f"on_error must be 'refuse' or 'allow', got {on_error!r}")
        self.moderator = moderator
        self.timeout_s = timeout_s
        self.on_error = on_error
        self.audit = audit
        # Streams hold the answer (and the reasoning) back only when a real hook may change it.
        self.active = not isinstance(moderator, AllowAll)
        self._executor = (ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="verirag-moderation")
                          if self.active else None)

    @property
    def kind(self) -> str:
        return getattr(self.moderator, "kind", type(self.moderator).__name__)

    async def question(self, question: str, context: ModerationContext, param: str = "question") -> str:
        """The question to answer (redacted or not); ApiError 400 when refused, 503 when the hook failed
        and the policy refuses."""
        if not self.active:
            return question
        decision = await self._decide("question", context, lambda: self.moderator.check_question(question, context),
                                      question=question)
        if decision.action == "refuse":
            self._audit(context, "refused", "question", decision, question=question)
            raise refused(decision, param)
        if decision.action == "redact":
            self._audit(context, "redacted", "question", decision)
            return decision.text or question
        return question

    async def answer(self, result: AnswerResult, context: ModerationContext) -> AnswerResult:
        """The result to return (redacted or not); ApiError as for :meth:`question`. Called after the
        answer was audited and its usage counted: a refused answer still cost its tokens."""
        if not self.active:
            return result
        decision = await self._decide("answer", context,
                                      lambda: self.moderator.check_answer(result.question, result.answer, context))
        if decision.action == "refuse":
            self._audit(context, "refused", "answer", decision)
            raise refused(decision, None)
        if decision.action == "redact":
            self._audit(context, "redacted", "answer", decision)
            return redacted_result(result, decision.text or "")
        return result

    async def _decide(self, stage: Stage, context: ModerationContext, check: Callable[[], Decision],
                      question: str | None = None) -> Decision:
        try:
            return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(self._executor, check),
                                          self.timeout_s)
        except TimeoutError:  # asyncio's own on 3.11+
            problem = f"the moderation hook did not answer within {self.timeout_s:g}s"
        except ModerationError as error:
            problem = str(error)
        except Exception as error:  # a Python hook's own bug is the hook failing, not the server
            log.error("the moderation hook raised %s: %s", type(error).__name__, error, exc_info=error)
            problem = f"the moderation hook raised {type(error).__name__}"
        log.warning("moderation of the %s failed (%s); policy: %s", stage, problem, self.on_error)
        if self.on_error == "allow":
            self.audit.record(context.route, context.key_id, context.collection, outcome="unmoderated",
                              stage=stage, hook=self.kind, error=problem)
            return Decision.allow()
        self.audit.record(context.route, context.key_id, context.collection, outcome="refused", stage=stage,
                          hook=self.kind, reason="moderation_error", error=problem,
                          **({"question": question} if question is not None else {}))
        raise ApiError(503, "moderation_unavailable",
                       f"the {stage} could not be moderated ({problem}), and this server refuses what it cannot "
                       f"moderate (VERIRAG_API_MODERATION_ON_ERROR=refuse); retry in {UNAVAILABLE_RETRY_AFTER_S}s",
                       headers=retry_after_header(UNAVAILABLE_RETRY_AFTER_S))

    def _audit(self, context: ModerationContext, outcome: str, stage: Stage, decision: Decision, **fields) -> None:
        self.audit.record(context.route, context.key_id, context.collection, outcome=outcome, stage=stage,
                          hook=self.kind, reason=decision.reason or decision.message, **fields)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        closing = getattr(self.moderator, "close", None)
        if callable(closing):
            closing()


def refused(decision: Decision, param: str | None) -> ApiError:
    return ApiError(400, "refused_by_moderation", decision.message or "refused by the moderation hook", param=param)


def redacted_result(result: AnswerResult, text: str) -> AnswerResult:
    """``result`` answering ``text``: no reasoning trace, citations read from ``text``, the verdict's
    claims (and the retry's other verdict) withheld, no abstention's original answer."""
    citations, unknown = resolve_citations(text, result.passages)
    verdict = result.verdict
    if verdict is not None:
        verdict = replace(verdict, claims=(), issues=(), previous=None, warnings=(REDACTED_VERDICT_WARNING,))
    return replace(result, answer=text, reasoning="", citations=citations, unknown_citations=unknown,
                   verdict=verdict, replaced_answer=None)
