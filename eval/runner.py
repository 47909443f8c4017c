"""`verirag eval run`: load a data set, index its corpus, evaluate every item, write the reports.

The run is resumable: each finished item is appended to ``items.jsonl`` in the output folder, and a
rerun with the same configuration skips it (eval.itemlog). The output folder defaults to
``<data_dir>/eval/runs/<data set>-<fingerprint>``, so running the same command again resumes it.

What a run evaluates (its *parts*):

* ``qa`` — every question end to end (retrieve → generate → verify), when the data set has reference
  answers;
* ``retrieval`` — retrieval only, for BEIR sets (no reference answers) or with ``retrieval_only``;
  retrieval is ``top_k`` = 100 passages deep unless told otherwise, so Recall@100 is defined;
* ``verifier`` — the labelled answers of ``halu.jsonl`` through the verifier alone.

The collection (eval.corpus): a collection eval indexes gets the incremental ingestion job before
every run's questions, so an indexing stopped half-way is finished first; when that job writes
anything, question items an earlier run finished were evaluated against another collection and are
evaluated again. A user's ``--collection`` is used as it is and checked for missing documents; what
it lacks is a warning in the reports and on stderr.

Errors: a model that stays unavailable or rejects one request (prompt too long) fails that item only:
it is recorded with its error, left out of the metrics and tried again by the next run. Configuration
errors (a bad key, an unknown profile, a store in use) and anything unexpected stop the run; what
finished stays in the folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from rag.backends.base import ModelRequestError, ModelUnavailableError
from rag.embedding import DenseEmbedder, default_model_path, embedder_for
from rag.profiles import resolve_profile
from rag.prompts import PromptTooLongError
from rag.settings import Settings

from eval.corpus import CollectionState, choose_relevance, collection_name, prepare_collection, slug
from eval.dataset import Dataset, DatasetError
from eval.itemlog import ItemLog
from eval.item_evaluation import (
    QuestionSettings,
    RankRecorder,
    evaluate_labelled,
    evaluate_question,
    evaluate_retrieval,
    failed_record,
    item_key,
    selected_keys,
)
from eval.loaders import load_dataset
from eval.results import finish_run
from eval.run_plan import RunOptions, RunOutcome, RunPlan

log = logging.getLogger(__name__)
RETRIEVAL_ONLY_DEPTH = 100
# One item fails, the run goes on: these concern one request, not the configuration.
ITEM_ERRORS = (ModelUnavailableError, ModelRequestError, PromptTooLongError)


def plan_run(options: RunOptions, settings: Settings) -> RunPlan:
    if options.retrieval_only and options.verifier_only:
        raise DatasetError("--retrieval-only and --verifier-only exclude each other: pick one")
    if options.limit is not None and options.limit < 1:
        raise DatasetError(f"--limit must be at least 1, got {options.limit}")
    dataset = load_dataset(options.dataset, options.format)
    settings = settings.with_overrides(verify_judge_model=options.judge)
    question_part = None
    if dataset.questions and not options.verifier_only:
        question_part = "retrieval" if dataset.retrieval_only or options.retrieval_only else "qa"
    labelled = () if options.retrieval_only else tuple(dataset.labelled[: options.limit])
    questions = tuple(dataset.questions[: options.limit]) if question_part else ()
    if not questions and not labelled:
        raise DatasetError(
            f"{dataset.path}: nothing to evaluate: "
            + ("the data set has no labelled answers (halu.jsonl)" if options.verifier_only else
               "the data set has no questions (qa.jsonl, queries)")
        )
    model = None
    if question_part == "qa":
        model = resolve_profile(options.model, settings).name
    if options.judge is not None:
        resolve_profile(options.judge, settings)
    top_k = options.top_k or (RETRIEVAL_ONLY_DEPTH if question_part == "retrieval" else settings.retrieval_top_k)
    collection = relevance = None
    notes, warnings = list(dataset.notes), []
    if question_part:
        collection = options.collection or (collection_name(dataset) if dataset.corpus else None)
        if collection is None:
            raise DatasetError(
                f"{dataset.path}: the data set has no corpus (no corpus file, no reference contexts); "
                "give --collection NAME of a collection that holds its documents"
            )
        chosen = choose_relevance(dataset, questions, settings, collection, options.collection is not None)
        questions, relevance = chosen.questions, chosen.basis
        notes += chosen.notes
        warnings += chosen.warnings
    # What retrieval is judged by is not part of the configuration: each run sets it on the records it
    # reports (judged_records), so an item evaluated before is scored by today's relevance.
    config = _config(dataset, question_part, bool(labelled), settings, model, options.judge, top_k, collection)
    fingerprint = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    return RunPlan(dataset, question_part, questions, labelled, settings, model, options.judge, top_k, collection,
                config, fingerprint, options.collection is not None, relevance, tuple(notes), tuple(warnings))


def _config(dataset: Dataset, question_part, has_labelled, settings: Settings, model, judge, top_k, collection) -> dict:
    profile = asdict(resolve_profile(model, settings)) if model else None
    return {
        "dataset": {
            "path": str(dataset.path),
            "name": dataset.name,
            "format": dataset.format,
            "content_hash": dataset.content_hash,
            "corpus": {"origin": dataset.corpus.origin, "content_hash": dataset.corpus.content_hash}
            if dataset.corpus else None,
        },
        "parts": [p for p in (question_part, "verifier" if has_labelled else None) if p],
        "collection": collection,
        "model": model,
        "model_profile": profile,
        "judge": judge,
        "top_k": top_k,
        "settings": {
            "embed_model": settings.embed_model or default_model_path(),
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap_tokens": settings.chunk_overlap_tokens,
            "bm25_avg_len": settings.bm25_avg_len,
            "fusion": settings.fusion,
            "multistep": settings.multistep,
            "search_tool_max_calls": settings.search_tool_max_calls,
            "expand_budget_tokens": settings.expand_budget_tokens,
            "reranker_model": settings.reranker_model,
            "verify_policy": "accept",  # the run scores the answer as generated: no retry, no abstention
            "verify_judge": settings.verify_judge,
            "verify_judge_model": settings.verify_judge_model,
            "verify_entailment": settings.verify_entailment,
            "entailment_model": settings.entailment_model,
            "verify_supported_score": settings.verify_supported_score,
            "verify_unsupported_score": settings.verify_unsupported_score,
            "qdrant_url": settings.qdrant_url,
        },
    }


def judged_records(plan: RunPlan, records: list[dict]) -> list[dict]:
    """The records with this plan's relevant documents: a record keeps the ones it was evaluated with,
    which an earlier run may have chosen otherwise (before a --collection was judged by source_doc_ids)."""
    if not plan.question_part:
        return records
    relevant = {item_key(plan.question_part, q.id): dict(q.relevant) for q in plan.questions}
    return [{**record, "relevant": relevant[record["key"]]} if record["key"] in relevant and not record.get("error")
            else record for record in records]


def default_folder(plan: RunPlan) -> Path:
    return plan.settings.data_dir / "eval" / "runs" / f"{slug(plan.dataset.name)}-{plan.fingerprint[:10]}"


class EvalRun:
    """One evaluation run. ``embedder`` and ``verifier`` may be given (tests share a loaded model,
    or control the verdicts); otherwise they come from the settings."""

    def __init__(self, settings: Settings, embedder: DenseEmbedder | None = None, verifier: Any = None):
        self.settings = settings
        self._embedder = embedder
        self._verifier = verifier

    def embedder(self, settings: Settings) -> DenseEmbedder:
        if self._embedder is None:
            self._embedder = embedder_for(settings)
        return self._embedder

    def run(self, options: RunOptions) -> RunOutcome:
        started = time.time()
        plan = plan_run(options, self.settings)
        folder = (options.out or default_folder(plan)).expanduser().resolve()
        keys = selected_keys(plan.questions, plan.labelled, plan.question_part)
        notes, warnings = list(plan.notes), list(plan.warnings)
        for warning in plan.warnings:
            log.warning("%s", warning)
        with ItemLog(folder, plan.fingerprint, plan.config, fresh=options.fresh) as item_log:
            collection = None
            if plan.question_part:
                collection = self._prepare_collection(plan, options, item_log)
                notes += collection.notes
                warnings += collection.warnings
            reused = sum(1 for key in keys if item_log.done(key))
            evaluated = failed = 0
            if reused < len(keys):
                for record in self._evaluate_pending(plan, item_log, options, len(keys), reused, collection):
                    item_log.append(record)
                    evaluated += 1
                    failed += bool(record.get("error"))
            records = judged_records(plan, item_log.selected(keys))

        results = finish_run(folder, plan, options, records, started, notes=notes, warnings=warnings)
        return RunOutcome(folder, results, evaluated, reused, failed, notes, warnings)

    def _prepare_collection(self, plan: RunPlan, options: RunOptions, item_log: ItemLog) -> CollectionState:
        """Index (or check) the collection before any item is reused: when indexing wrote documents,
        the question items finished before were evaluated against another collection (one an
        interrupted indexing left half-written, say) and are discarded, to be evaluated again."""
        assert plan.collection is not None
        state = prepare_collection(plan.dataset, plan.questions, plan.relevance, plan.settings, plan.collection,
                                   plan.collection_given, lambda: self.embedder(plan.settings), options.progress)
        for warning in state.warnings:
            log.warning("%s", warning)
        if state.written:
            # Every question item the folder holds, not only this --limit's: all saw the old collection.
            stale = item_log.discard([key for key, record in item_log.records.items() if record.get("part") != "verifier"])
            if stale:
                state.notes.append(
                    f"collection {state.name!r} changed since {stale} finished questions were evaluated ({state.written} "
                    "documents indexed in this run): they were evaluated again"
                )
                log.warning("%s", state.notes[-1])
        return state

    def _evaluate_pending(
        self, plan: RunPlan, item_log: ItemLog, options: RunOptions, total: int, reused: int,
        collection: CollectionState | None,
    ) -> Iterator[dict]:
        from tqdm import tqdm

        show = options.progress if options.progress is not None else sys.stderr.isatty()
        settings = plan.settings
        embedder = self.embedder(settings)
        with tqdm(total=total, initial=reused, desc=f"eval {plan.dataset.name}", unit="item", disable=not show,
                  file=sys.stderr, dynamic_ncols=True) as bar:
            pending_questions = [q for q in plan.questions if not item_log.done(item_key(plan.question_part, q.id))]
            if pending_questions:
                assert collection is not None
                yield from self._questions(plan, pending_questions, embedder, collection.name, bar)
            pending_labelled = [item for item in plan.labelled if not item_log.done(item_key("verifier", item.id))]
            if pending_labelled:
                yield from self._labelled(plan, pending_labelled, embedder, bar)

    def _questions(self, plan: RunPlan, pending, embedder, collection: str, bar) -> Iterator[dict]:
        from rag.pipeline import Pipeline, pipeline_for
        from rag.store import open_store

        scorer = self._scorer(plan, embedder)
        with open_store(plan.settings, collection) as store:
            if plan.question_part != "qa":  # retrieval only: no verifier (nor its models) to load
                pipeline = Pipeline(plan.settings, store, embedder)
            elif self._verifier is not None:
                pipeline = Pipeline(plan.settings, store, embedder, verifier=self._verifier)
            else:
                pipeline = pipeline_for(plan.settings, store, embedder)
            recorder = RankRecorder()
            pipeline.hooks.append(recorder)
            question_settings = QuestionSettings(model=plan.model, top_k=plan.top_k)
            for question in pending:
                bar.set_postfix_str(question.id[:24], refresh=False)
                try:
                    if plan.question_part == "qa":
                        record = evaluate_question(question, pipeline, recorder, scorer, question_settings)
                    else:
                        record = evaluate_retrieval(question, pipeline, scorer, plan.top_k)
                except ITEM_ERRORS as error:
                    log.warning("question %s failed: %s", question.id, error)
                    record = failed_record(plan.question_part, question.id, question.question, error)
                bar.update(1)
                yield record

    def _labelled(self, plan: RunPlan, pending, embedder, bar) -> Iterator[dict]:
        verifier = self._verifier
        if verifier is None:
            from rag.verify.verifier import verifier_for

            verifier = verifier_for(plan.settings, embedder)
        source = str(plan.dataset.path)
        for item in pending:
            bar.set_postfix_str(item.id[:24], refresh=False)
            try:
                record = evaluate_labelled(item, verifier, source)
            except ITEM_ERRORS as error:
                log.warning("labelled answer %s failed: %s", item.id, error)
                record = failed_record("verifier", item.id, item.question, error)
            bar.update(1)
            yield record

    def _scorer(self, plan: RunPlan, embedder: DenseEmbedder):
        from eval.answer_metrics import AnswerScorer
        from eval.ragas_models import DenseEmbeddings, ProfileLLM, judge_run_config, quiet_ragas_analytics

        quiet_ragas_analytics(plan.settings.data_dir / "eval" / "ragas")
        if plan.judge is None or plan.question_part != "qa":
            return AnswerScorer()
        llm = ProfileLLM(plan.judge, plan.settings)
        return AnswerScorer(llm=llm, embeddings=DenseEmbeddings(embedder), run_config=judge_run_config(llm.profile.timeout_s))
