"""Retrieval on both stores: hybrid query, filters, fusion, rerank, CLI.

The corpus (tests/support/retrieval_corpus.py) is written straight into each store (EdgeStore in a
temporary folder and ServerStore over qdrant-client's local mode) with the real MiniLM embedder and
the real BM25 encoder. Neighbour expansion and dedupe have their own tests (test_expansion.py).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) leaves the root out
    sys.path.insert(0, str(_REPO))

from rag.store.base import FieldFilter  # noqa: E402
from rag.store.edge import EdgeStore  # noqa: E402
from rag.types import Passage  # noqa: E402
from tests.support.retrieval_corpus import (  # noqa: E402, F401 - points, stores, store: fixtures
    points,
    store,
    stores,
    COLLECTION,
    DOC,
    FOG,
    LEAVEN,
    RARE,
    SPECS,
    ScriptedStore,
    both_stores,
    build_points,
    doc_slice,
    retriever,
    spec_of,
)


# -- ranking -----------------------------------------------------------------------------------
# RRF adds 1/(60 + rank) per list, ranks from 0: first in both lists is the most a hit can get.
RRF_MAX = 1 / 60 + 1 / 61


def test_paraphrased_question_ranks_the_relevant_passage_first(store, embedder):
    r = retriever(store, embedder)
    assert r.sparse_only(FOG, 5) == [], "no BM25 term in common: the dense half must find it"
    passages = r.retrieve(FOG, top_k=3)
    assert passages[0].doc_id == "lighthouse"
    assert "diaphone" in passages[0].text
    passages = r.retrieve(LEAVEN, top_k=3)
    assert passages[0].doc_id == "bread"
    assert "Feed the starter every day" in passages[0].text


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_rare_keyword_is_lifted_by_the_sparse_half(store, embedder, fusion):
    r = retriever(store, embedder, expand_budget_tokens=0)
    target = spec_of("lighthouse", "QV2219")
    dense = r.dense_only(RARE, 5)
    assert (dense[0].doc_id, dense[0].chunk_indexes) != ("lighthouse", (target.index,))
    sparse = r.sparse_only(RARE, 5)
    assert (sparse[0].doc_id, sparse[0].chunk_indexes) == ("lighthouse", (target.index,))
    assert set(sparse[0].scores) == {"sparse"} and set(dense[0].scores) == {"dense"}
    top = r.retrieve(RARE, top_k=3, fusion=fusion)[0]
    assert (top.doc_id, top.chunk_indexes) == ("lighthouse", (target.index,))
    assert "QV2219" in top.text


def test_rrf_and_dbsf_both_rank_and_score_on_their_own_scales(store, embedder):
    r = retriever(store, embedder)
    rrf = r.retrieve(LEAVEN, top_k=4, fusion="rrf")
    dbsf = r.retrieve(LEAVEN, top_k=4, fusion="dbsf")
    for passages in (rrf, dbsf):
        assert passages[0].doc_id == "bread"
        fused = [p.scores["fused"] for p in passages]
        assert fused == sorted(fused, reverse=True)
    # Qdrant returns scores as float32 (24-bit significand: ≤ 6e-8 relative rounding per operation, and
    # RRF_MAX in float32 is 0.0330601111 > 0.0330601093 in float64): bound with a relative 1e-6.
    assert all(p.scores["fused"] <= RRF_MAX * (1 + 1e-6) for p in rrf)
    assert dbsf[0].scores["fused"] > RRF_MAX
    with pytest.raises(ValueError, match="fusion"):
        r.retrieve(LEAVEN, fusion="mean")


def test_passages_are_unlabelled_capped_at_top_k_and_carry_metadata(store, embedder):
    r = retriever(store, embedder)
    passages = r.retrieve(LEAVEN, top_k=2)
    assert len(passages) == 2
    for passage in passages:
        assert passage.label == ""
        doc = DOC[passage.doc_id]
        assert (passage.source, passage.title) == (doc.source, doc.title)
        assert set(passage.scores) == {"fused"}
        assert passage.page == passage.pages[0]
    assert len(r.retrieve(LEAVEN, top_k=20)) <= 20
    with pytest.raises(ValueError, match="empty"):
        r.retrieve("   ")
    with pytest.raises(ValueError, match="top_k"):
        r.retrieve(LEAVEN, top_k=0)


def test_one_hybrid_query_per_question_with_room_for_dedupe(store, embedder):
    scripted = ScriptedStore(store)
    retriever(scripted, embedder).retrieve(LEAVEN, top_k=4, filters=[FieldFilter("lang", "en")], fusion="dbsf")
    assert scripted.hybrid_calls == [
        {"limit": 12, "filters": (FieldFilter("lang", "en"),), "fusion": "dbsf", "score_threshold": None}
    ]
    scripted = ScriptedStore(store)
    retriever(scripted, embedder, expand_budget_tokens=0).retrieve(LEAVEN, top_k=4)
    assert [call["limit"] for call in scripted.hybrid_calls] == [4]
    assert scripted.chunks_of_calls == [], "no expansion: no neighbour fetches"


# -- filters and thresholds --------------------------------------------------------------------
def test_filters_on_core_fields_metadata_pages_and_negation(store, embedder):
    r = retriever(store, embedder)
    only_pump = r.retrieve(LEAVEN, top_k=5, filters=[FieldFilter("doc_id", "pump")])
    assert only_pump and {p.doc_id for p in only_pump} == {"pump"}
    french = r.retrieve(FOG, top_k=5, filters=[FieldFilter("lang", "fr")])
    assert french and {p.doc_id for p in french} == {"pump"}
    kinds = r.retrieve(FOG, top_k=8, filters=[FieldFilter("kind", ["recipe", "notes"])])
    assert kinds and {p.doc_id for p in kinds} <= {"bread", "tides"}
    not_lighthouse = r.retrieve(FOG, top_k=8, filters=[FieldFilter("doc_id", "lighthouse", negate=True)])
    assert not_lighthouse and "lighthouse" not in {p.doc_id for p in not_lighthouse}
    assert r.retrieve(FOG, top_k=5, filters=[FieldFilter("lang", "xx")]) == []


def test_score_threshold_drops_weak_hits(store, embedder):
    r = retriever(store, embedder, expand_budget_tokens=0)
    everything = r.retrieve(LEAVEN, top_k=6, fusion="dbsf")
    assert len(everything) == 6
    cut = (everything[1].scores["fused"] + everything[2].scores["fused"]) / 2
    kept = r.retrieve(LEAVEN, top_k=6, fusion="dbsf", score_threshold=cut)
    assert [p.chunk_indexes for p in kept] == [p.chunk_indexes for p in everything[:2]]
    assert all(p.scores["fused"] >= cut for p in kept)
    assert r.retrieve(LEAVEN, top_k=6, fusion="rrf", score_threshold=1.0) == []


# -- both stores agree -------------------------------------------------------------------------
@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_both_stores_return_the_same_passages(stores, embedder, fusion):
    def content(passages):
        return [(p.doc_id, p.chunk_indexes, p.text, p.pages, p.char_start, p.char_end) for p in passages]

    for question in (FOG, LEAVEN, RARE, "Where is the old lens shown?", "pump frost"):
        results = {
            name: retriever(store, embedder).retrieve(question, top_k=5, fusion=fusion)
            for name, store in stores.items()
        }
        assert content(results["embedded"]) == content(results["server"]), question
        for a, b in zip(results["embedded"], results["server"]):
            assert a.scores["fused"] == pytest.approx(b.scores["fused"], rel=1e-4, abs=1e-6)


# -- rerank ------------------------------------------------------------------------------------
class FakeCrossEncoder:
    """CrossEncoder-compatible: scores a pair by how often "tide" occurs in the passage text."""

    instances: list["FakeCrossEncoder"] = []

    def __init__(self, model_path, device=None, local_files_only=False):
        self.model_path, self.device, self.local_files_only = model_path, device, local_files_only
        self.pairs: list[tuple[str, str]] = []
        FakeCrossEncoder.instances.append(self)

    def predict(self, pairs, batch_size=32, show_progress_bar=None):
        import numpy as np

        self.pairs.extend(pairs)
        return np.array([float(text.lower().count("tide")) for _, text in pairs], dtype=np.float32)


def test_reranker_reorders_hits_before_expansion(store, embedder, tmp_path):
    from rag.rerank import CrossEncoderReranker

    model_dir = tmp_path / "fake-cross-encoder"
    model_dir.mkdir()
    reranker = CrossEncoderReranker(model_dir, device="cpu", cross_encoder_cls=FakeCrossEncoder)
    model = reranker.model
    assert (model.model_path, model.device, model.local_files_only) == (str(model_dir), "cpu", True)

    without = retriever(store, embedder).retrieve(FOG, top_k=6)
    assert without[0].doc_id == "lighthouse"
    passages = retriever(store, embedder, reranker=reranker).retrieve(FOG, top_k=6)
    assert passages[0].doc_id == "tides"
    assert passages[0].chunk_indexes == (0, 1)  # the reranked hit, then expanded
    assert all(set(p.scores) == {"fused", "rerank"} for p in passages)
    rerank_scores = [p.scores["rerank"] for p in passages]
    assert rerank_scores == sorted(rerank_scores, reverse=True)
    # The cross-encoder read every candidate chunk (18 asked, 16 exist) with its title header.
    assert len(model.pairs) == sum(len(s) for s in SPECS.values())
    assert {q for q, _ in model.pairs} == {FOG}
    assert f"Tide table notes\n{SPECS['tides'][0].text}" in {t for _, t in model.pairs}
    assert f"Sourdough at home / Starter\n{SPECS['bread'][0].text}" in {t for _, t in model.pairs}


def test_cross_encoder_reranker_errors_name_the_model_path(tmp_path):
    from rag.rerank import CrossEncoderReranker, RerankerError

    missing = tmp_path / "no-such-cross-encoder"
    with pytest.raises(RerankerError, match="no-such-cross-encoder") as error:
        CrossEncoderReranker(missing)
    assert "not a local directory" in str(error.value)

    empty = tmp_path / "empty-model-dir"
    empty.mkdir()
    with pytest.raises(RerankerError, match="empty-model-dir"):
        CrossEncoderReranker(empty)  # the real sentence-transformers class, offline

    class Broken(FakeCrossEncoder):
        def predict(self, pairs, batch_size=32, show_progress_bar=None):
            raise RuntimeError("CUDA out of memory")

    reranker = CrossEncoderReranker(empty, cross_encoder_cls=Broken)
    passage = Passage("", "d", "text", "s", "t", (), (), 0, 4, (0,), {"fused": 0.5})
    with pytest.raises(RerankerError, match="empty-model-dir.*CUDA out of memory"):
        reranker.rerank("q", [passage])
    assert reranker.rerank("q", []) == []


def test_two_label_cross_encoders_use_the_relevant_column(tmp_path):
    from rag.rerank import CrossEncoderReranker

    class TwoLabels(FakeCrossEncoder):
        def predict(self, pairs, batch_size=32, show_progress_bar=None):
            import numpy as np

            return np.array([[0.9, 0.1], [0.2, 0.8]])

    reranker = CrossEncoderReranker(tmp_path, cross_encoder_cls=TwoLabels)
    a = Passage("", "a", "first", "s", "t", (), (), 0, 5, (0,), {"fused": 0.9})
    b = Passage("", "b", "second", "s", "t", (), (), 0, 6, (0,), {"fused": 0.1})
    ranked = reranker.rerank("q", [a, b])
    assert [p.doc_id for p in ranked] == ["b", "a"]
    assert ranked[0].scores == {"fused": 0.1, "rerank": pytest.approx(0.8)}


def test_load_reranker_and_retrieval_settings(tmp_path, monkeypatch):
    from pydantic import ValidationError

    from rag.rerank import RerankerError, load_reranker
    from rag.settings import Settings

    defaults = Settings(data_dir=tmp_path)
    assert (defaults.retrieval_top_k, defaults.fusion, defaults.expand_budget_tokens) == (8, "dbsf", 512)
    assert defaults.reranker_model is None and load_reranker(defaults) is None
    assert load_reranker(Settings(data_dir=tmp_path, reranker_model="")) is None
    with pytest.raises(RerankerError, match="missing-reranker"):
        load_reranker(Settings(data_dir=tmp_path, reranker_model=str(tmp_path / "missing-reranker")))

    monkeypatch.setenv("VERIRAG_FUSION", "rrf")
    monkeypatch.setenv("VERIRAG_EXPAND_BUDGET_TOKENS", "0")
    monkeypatch.setenv("VERIRAG_RETRIEVAL_TOP_K", "3")
    configured = Settings()
    assert (configured.fusion, configured.expand_budget_tokens, configured.retrieval_top_k) == ("rrf", 0, 3)
    with pytest.raises(ValidationError):
        Settings(fusion="mean")
    with pytest.raises(ValidationError):
        Settings(expand_budget_tokens=-1)


def test_retriever_for_uses_the_settings(store, embedder, tmp_path):
    from rag.retrieval import retriever_for
    from rag.settings import Settings

    built = retriever_for(Settings(data_dir=tmp_path, expand_budget_tokens=0), store, embedder)
    assert built.reranker is None and built.expand_budget_tokens == 0
    assert all(len(p.chunk_indexes) == 1 for p in built.retrieve(FOG, top_k=4))


# -- `verirag search` --------------------------------------------------------------------------
@pytest.fixture
def cli_app(tmp_path, monkeypatch):
    """`search` registered on a Typer app of its own; VERIRAG_DATA_DIR points into tmp_path."""
    import typer
    from typer.testing import CliRunner

    from cli.search import register

    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """(keeps `search` a subcommand)"""

    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["search", *args])


@pytest.fixture
def cli(cli_app, points, embedder):
    """The same, with the collection written under the data directory (embedded store)."""
    from rag.settings import Settings

    with EdgeStore(Settings().collections_dir, COLLECTION, embedder.dimension) as created:
        created.upsert(points)
    return cli_app


def test_search_cli_prints_ranked_passages(cli):
    from cli.search import SNIPPET_CHARS

    result = cli(FOG, "--collection", COLLECTION, "--top-k", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(" 1. lighthouse  file:///docs/lighthouse.md  p.1  score=")
    assert lines[1].startswith("    The lighthouse on Skerry Point")  # the passage's first words
    assert len(lines[1]) <= 4 + SNIPPET_CHARS and lines[1].endswith("…")
    assert lines[2].startswith(" 2. ") and len(lines) == 4


def test_search_cli_json(cli):
    result = cli(LEAVEN, "--collection", COLLECTION, "--json", "--fusion", "dbsf", "--top-k", "3")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    top = rows[0]
    assert {"doc_id", "source", "page", "text", "score", "title", "section_path", "pages", "char_start", "char_end", "chunk_indexes"} <= set(top)
    assert top["doc_id"] == "bread" and top["section_path"] == ["Starter"]
    assert top["page"] == top["pages"][0]
    assert top["text"] == doc_slice("bread", top["char_start"], top["char_end"])
    assert top["score"] == top["scores"]["fused"] > RRF_MAX  # a DBSF score
    assert [row["rank"] for row in rows] == [1, 2, 3]


def test_search_cli_filters(cli):
    result = cli(LEAVEN, "-c", COLLECTION, "--json", "--filter", "doc_id=pump")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and {row["doc_id"] for row in rows} == {"pump"}
    result = cli(FOG, "-c", COLLECTION, "--json", "--filter", "page=4", "--filter", "lang=en")
    rows = json.loads(result.stdout)
    assert rows and all(4 in row["pages"] for row in rows)  # "4" became the integer 4
    assert {row["doc_id"] for row in rows} <= {"lighthouse", "volcano"}
    result = cli(FOG, "-c", COLLECTION, "--score-threshold", "5")
    assert result.exit_code == 0 and "no passages matched" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--filter", "page"], "invalid filter 'page'"),
        (["--filter", "=3"], "invalid filter '=3'"),
        (["--filter", "lang="], "invalid filter 'lang='"),
        (["--filter", "bad key=1"], "invalid filter"),
        (["--fusion", "mean"], "Invalid value for '--fusion': choose one of rrf, dbsf, got 'mean'"),
    ],
)
def test_search_cli_rejects_bad_options(cli_app, args, message):
    result = cli_app(FOG, "-c", COLLECTION, *args)
    assert result.exit_code == 2  # bad usage, as the README says, before any model is loaded
    assert message in unboxed(result.stderr)
    assert "Traceback" not in result.output


def unboxed(text: str) -> str:
    """Typer's error box without its frame and line wrapping."""
    return " ".join(text.replace("│", " ").split())


def test_search_cli_missing_collection_is_a_clear_error(cli_app):
    result = cli_app(FOG, "--collection", "nope")
    assert result.exit_code == 1
    assert "collection 'nope' does not exist" in result.stderr


def test_a_misspelled_collection_gets_a_suggestion(cli):
    result = cli(FOG, "--collection", COLLECTION[:-1] + "x")
    assert result.exit_code == 1 and f"did you mean {COLLECTION!r}?" in result.stderr


def test_a_filter_on_a_field_no_chunk_has_lists_the_fields(cli):
    result = cli(FOG, "-c", COLLECTION, "--filter", "docid=lighthouse")
    message = unboxed(result.stderr)
    assert result.exit_code == 2
    assert "has no field 'docid' (did you mean 'doc_id'?)" in message
    assert "doc_id" in message and "page" in message and "lang" in message  # core fields and stored metadata
    assert cli(FOG, "-c", COLLECTION, "--filter", "lang=en").exit_code == 0


def test_parse_filter():
    from rag.store.base import parse_filter

    assert parse_filter("page=3") == FieldFilter("page", 3)
    assert parse_filter("lang=en") == FieldFilter("lang", "en")
    assert parse_filter("doc_id=a=b") == FieldFilter("doc_id", "a=b")
    assert parse_filter("meta.team=007x") == FieldFilter("meta.team", "007x")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_filter("lang")
    for key in ("a..b", "a.", "meta.", "1st"):  # the store cannot parse these paths: refused before it is asked
        with pytest.raises(ValueError, match=f"filter key '{re.escape(key)}' is not a field path"):
            parse_filter(f"{key}=1")


def test_a_question_in_compatibility_forms_meets_the_stored_nfkc_text(store, embedder):
    # Ingestion stores NFKC text: a question typed with ligatures and full-width letters must meet it.
    plain = "What should the starter be fed with: flour and water?"
    styled = plain.replace("fl", "\ufb02").replace("fed", "\uff46ed")  # "ﬂour", full-width "ｆed"
    assert styled != plain and unicodedata.normalize("NFKC", styled) == plain
    search = retriever(store, embedder)
    expected = [(p.doc_id, p.char_start) for p in search.retrieve(plain, top_k=3)]
    assert [(p.doc_id, p.char_start) for p in search.retrieve(styled, top_k=3)] == expected
