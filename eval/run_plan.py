"""What one evaluation run is asked to do (RunOptions), what it plans (RunPlan) and what it did
(RunOutcome): the types eval.runner and eval.results share, so neither imports the other's module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rag.settings import Settings

from eval.dataset import Dataset


@dataclass(frozen=True)
class RunOptions:
    dataset: Path
    format: str | None = None
    collection: str | None = None
    model: str | None = None
    judge: str | None = None
    limit: int | None = None
    out: Path | None = None
    top_k: int | None = None
    retrieval_only: bool = False
    verifier_only: bool = False
    fresh: bool = False
    progress: bool | None = None  # None: a bar on a terminal


@dataclass
class RunOutcome:
    folder: Path
    results: dict
    evaluated: int  # items evaluated by this invocation
    reused: int  # items found finished in the folder
    failed: int  # items that ended in an error (retried next time)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what makes the numbers suspect: say it loudly


@dataclass(frozen=True)
class RunPlan:
    dataset: Dataset
    question_part: str | None  # "qa", "retrieval" or None
    questions: tuple
    labelled: tuple
    settings: Settings
    model: str | None
    judge: str | None
    top_k: int
    collection: str | None
    config: dict
    fingerprint: str
    collection_given: bool = False  # --collection NAME
    relevance: str | None = None  # what retrieval is judged against (eval.corpus.choose_relevance)
    notes: tuple[str, ...] = ()  # the loader's notes, then the plan's
    warnings: tuple[str, ...] = ()
