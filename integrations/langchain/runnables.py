"""LangChain runnables for checked answers.

* :class:`VeriragAnswer` — a question in, verirag's answer out, with its verdict, citations and the source
  documents: ``{"question", "answer", "verdict", "citations", "documents", "reasoning", "model"}``.
* :class:`VeriragVerifier` — checks an answer another chain made against the documents it was given: input
  ``{"question"?, "answer", "documents" (or "context")}``, output the same with ``"verdict"`` added. Citations
  are not required by default, since few chains cite ``[S1]``-style labels: each claim is checked against
  every document (labelled S1…Sn in order, for answers that do cite).

A verdict is verirag's: ``label`` (supported, partially_supported, unsupported, abstained), ``score`` (0–1),
``policy_action``, ``warnings`` and ``claims`` (each with ``text``, ``status``, ``citations``, ``evidence``).
"""

from __future__ import annotations

from typing import Any, Optional, Union

from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import model_validator

from integrations.langchain.documents import passage_document, verify_passages
from integrations.langchain.retriever import with_backend

Question = Union[str, dict[str, Any]]


class VeriragAnswer(RunnableSerializable[Question, dict[str, Any]]):
    """``VeriragAnswer(collection="handbook").invoke("…")``; the input may also be ``{"question", "filters"?,
    "top_k"?, "collection"?}``. Where verirag lives: as for VeriragRetriever."""

    collection: Optional[str] = None
    top_k: Optional[int] = None
    filters: Optional[dict[str, Any]] = None
    model: Optional[str] = None  # a verirag model profile; None: the configured default
    verify: Optional[str] = None  # verdict policy: accept, flag, retry or abstain; None: the configured one
    backend: Any = None

    @model_validator(mode="before")
    @classmethod
    def _connect(cls, values: Any) -> Any:
        return with_backend(values)

    def invoke(self, input: Question, config: Optional[RunnableConfig] = None, **kwargs: Any) -> dict[str, Any]:
        return self._call_with_config(self._answer, input, config, run_type="chain")

    def _answer(self, input: Question) -> dict[str, Any]:
        request = {"question": input} if isinstance(input, str) else dict(input)
        answer = self.backend.ask(
            request["question"], collection=request.get("collection", self.collection),
            top_k=request.get("top_k", self.top_k), filters=request.get("filters", self.filters),
            model=self.model, verify=self.verify,
        )  # fmt: skip
        return {
            "question": answer.question,
            "answer": answer.answer,
            "verdict": answer.verdict.model_dump() if answer.verdict is not None else None,
            "citations": [citation.model_dump() for citation in answer.citations],
            "documents": [passage_document(passage) for passage in answer.passages],
            "reasoning": answer.reasoning,
            "model": answer.model,
        }


class VeriragVerifier(RunnableSerializable[dict[str, Any], dict[str, Any]]):
    """``chain | VeriragVerifier()`` where the chain's output holds ``answer`` and ``documents``/``context``."""

    require_citations: bool = False
    backend: Any = None

    @model_validator(mode="before")
    @classmethod
    def _connect(cls, values: Any) -> Any:
        return with_backend(values)

    def invoke(self, input: dict[str, Any], config: Optional[RunnableConfig] = None,
               **kwargs: Any) -> dict[str, Any]:
        return self._call_with_config(self._verify, input, config, run_type="chain")

    def _verify(self, input: dict[str, Any]) -> dict[str, Any]:
        sources = input.get("documents", input.get("context"))
        if isinstance(sources, str):
            sources = [sources]
        if not sources:
            raise ValueError("VeriragVerifier needs the documents the answer was made from "
                             "(input key 'documents' or 'context')")
        answer = input.get("answer")
        answer = getattr(answer, "content", answer)  # a chat model's message: its text
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError("VeriragVerifier needs the answer to check (input key 'answer', a string)")
        verdict = self.backend.verify(answer, verify_passages(sources), question=input.get("question"),
                                      reasoning=input.get("reasoning"), require_citations=self.require_citations)
        return {**input, "verdict": verdict.model_dump()}
