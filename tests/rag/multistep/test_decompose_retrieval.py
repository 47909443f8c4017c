"""Two-step retrieval for models without tool calls: the rules that cut a question, the RRF merge, and
decomposed retrieval over a real embedded store of facts where one retrieval finds one side only."""

from __future__ import annotations

import json

import pytest

from ingest.job import IngestJob, IngestOptions
from rag.multistep.decompose import retrieve_decomposed, sub_questions
from rag.multistep.merge import rrf_merge
from rag.multistep.strategy import strategy_for
from rag.pipeline import AnswerRequest, Pipeline
from rag.profiles import resolve_profile
from rag.settings import Settings
from rag.store import open_store
from rag.types import Passage


@pytest.mark.parametrize("question, parts", [
    ("Which magazine was started first Arthur's Magazine or First for Women?",
     ("Which magazine was started first Arthur's Magazine?", "Which magazine was started first First for Women?")),
    ("Who was born first, Pablo Trapero or Aleksander Ford?",
     ("Who was born first Pablo Trapero?", "Who was born first Aleksander Ford?")),
    ("Which musician, Edwyn Collins or Jimmie Ross, played the bass guitar?",
     ("Which musician Edwyn Collins played the bass guitar?", "Which musician Jimmie Ross played the bass guitar?")),
    ("Are Pam Veasey and Jon Jost both American?", ("Pam Veasey American?", "Jon Jost American?")),
    ("Were Eatza Pizza and Your Pie founded in the same state?",
     ("Eatza Pizza founded in the same state?", "Your Pie founded in the same state?")),
])
def test_comparisons_are_cut_into_one_query_per_side(question, parts):
    decomposition = sub_questions(question)
    assert decomposition.kind == "comparison" and decomposition.parts == parts


@pytest.mark.parametrize("question", [
    "The Oberoi family is part of a hotel company that has a head office in what city?",
    "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?",
    "Is the sky blue or green?",  # no names on either side
])
def test_other_questions_are_bridges(question):
    assert sub_questions(question).kind == "bridge" and sub_questions(question).parts == ()


def _passage(doc_id: str) -> Passage:
    return Passage(label="", doc_id=doc_id, text=doc_id, source="", title="", section_path=(), pages=(),
                   char_start=0, char_end=len(doc_id), chunk_indexes=(0,), scores={"fused": 1.0})


def test_rrf_merge_rewards_agreement_and_interleaves_the_rest():
    a, b, c, d = (_passage(x) for x in "abcd")
    merged = rrf_merge([[a, b, c], [d, b], [c]], top_k=3)
    # b: 1/62 + 1/62; c: 1/63 + 1/61; a: 1/61; d: 1/61 (ties keep first-seen order)
    assert [p.doc_id for p in merged] == ["c", "b", "a"]
    assert merged[0].scores["multistep_rrf"] == pytest.approx(1 / 63 + 1 / 61)
    assert merged[0].scores["fused"] == 1.0  # the passage's own scores are kept
    with pytest.raises(ValueError, match="top_k"):
        rrf_merge([[a]], top_k=0)


# Two magazines, each fact its own document, among look-alikes that share the question's words.
FACTS = {
    "arthur": "Arthur's Magazine (1844–1846) was an American literary periodical published in Philadelphia.",
    "first": "First for Women is a woman's magazine published by Bauer Media Group in the USA.",
    "mag1": "Which magazine was started first is a quiz question magazine readers were asked in 1990.",
    "mag2": "The magazine was started first as a newsletter and only later became a magazine.",
    "mag3": "A magazine started first in one city often moves; the first magazine here was started in 1901.",
}
QUESTION = "Which magazine was started first Arthur's Magazine or First for Women?"


@pytest.fixture(scope="module")
def facts_dir(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("facts")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": k, "title": "", "text": v}) + "\n" for k, v in FACTS.items()))
    report = IngestJob(Settings(data_dir=root / "data"), embedder).run(
        IngestOptions(paths=[str(corpus)], collection="facts", progress=False))
    assert not report.failures
    return root / "data"


def test_decomposed_retrieval_finds_both_sides(facts_dir, embedder):
    settings = Settings(data_dir=facts_dir, expand_budget_tokens=0)
    with open_store(settings, "facts") as store:
        pipeline = Pipeline(settings, store, embedder)
        # Each side's own query ranks its magazine first, above every look-alike.
        for part, side in zip(sub_questions(QUESTION).parts, ("arthur", "first")):
            assert pipeline.retriever.retrieve(part, top_k=1)[0].doc_id == side
        both = retrieve_decomposed(pipeline.retriever, QUESTION, top_k=2)
        assert {p.doc_id for p in both} == {"arthur", "first"}
        assert all(p.scores["multistep_rrf"] > 0 for p in both)
        # The pipeline takes it from the setting.
        decomposing = Pipeline(settings.with_overrides(multistep="decompose"), store, embedder)
        assert {p.doc_id for p in decomposing.retrieve(AnswerRequest(QUESTION, top_k=2))} == {"arthur", "first"}


def test_a_bridge_searches_again_with_its_first_passage(facts_dir, embedder):
    settings = Settings(data_dir=facts_dir, expand_budget_tokens=0)
    with open_store(settings, "facts") as store:
        retriever = Pipeline(settings, store, embedder).retriever
        calls: list[str] = []

        class Recording:
            def retrieve(self, query, **kwargs):
                calls.append(query)
                return retriever.retrieve(query, **kwargs)

        passages = retrieve_decomposed(Recording(), "Who publishes the magazine First for Women?", top_k=2)
    assert len(calls) == 2 and calls[1].startswith("Who publishes the magazine First for Women? ")
    assert calls[1].endswith(passages[0].text) or FACTS["first"] in calls[1]


def test_the_strategy_follows_the_setting_and_the_profile():
    local, deepseek = resolve_profile("local"), resolve_profile("deepseek-v4-flash")
    assert strategy_for(Settings(), local) == "single"
    assert strategy_for(Settings(), deepseek) == "tools"
    assert strategy_for(Settings(search_tool_max_calls=0), deepseek) == "single"
    assert strategy_for(Settings(multistep="off"), deepseek) == "single"
    assert strategy_for(Settings(multistep="decompose"), deepseek) == "decompose"
    with pytest.raises(ValueError, match="takes no tool calls"):
        strategy_for(Settings(multistep="tools"), local)
