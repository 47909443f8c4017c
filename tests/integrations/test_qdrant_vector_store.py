"""Stock LlamaIndex reads a collection `verirag ingest` wrote: QdrantVectorStore over qdrant-client (its local
mode stands in for a Qdrant server) finds the same chunks, in the same order, as verirag's own dense search,
and its nodes carry verirag's payload as metadata."""

from __future__ import annotations

import shutil
import warnings

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from ingest.job import IngestJob, IngestOptions
from integrations.llamaindex.qdrant import VeriragEmbedding, verirag_vector_store
from rag.embedding import SparseEncoder
from rag.ids import chunk_point_id
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.store import FieldFilter
from tests.api.helpers import COLLECTION, QUESTION, SAMPLES, SMALL_SAMPLES

TOP = 4


@pytest.fixture(scope="module")
def qdrant(tmp_path_factory, embedder):
    """qdrant-client's local mode holding the collection, written by verirag's ingest job."""
    from qdrant_client import QdrantClient

    from rag.store.server import ServerStore

    root = tmp_path_factory.mktemp("qdrant-compat")
    docs = root / "docs"
    docs.mkdir()
    for name in SMALL_SAMPLES:
        shutil.copy(SAMPLES / name, docs / name)
    client = QdrantClient(path=str(root / "qdrant"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")
        store = ServerStore(client, COLLECTION, embedder.dimension, where="local")
        report = IngestJob(Settings(data_dir=root / "data"), embedder, store=store).run(
            IngestOptions(paths=[str(docs)], collection=COLLECTION, progress=False))
    assert not report.failures and report.chunks.written > 0
    yield client, store
    client.close()


def stock_retriever(client, embedder, **options):
    index = VectorStoreIndex.from_vector_store(verirag_vector_store(client, COLLECTION),
                                               embed_model=VeriragEmbedding(embedder=embedder))
    return index.as_retriever(similarity_top_k=TOP, **options)


def test_stock_llamaindex_finds_the_chunks_verirags_dense_search_finds(qdrant, embedder):
    client, store = qdrant
    nodes = stock_retriever(client, embedder).retrieve(QUESTION)
    own = Retriever(store, embedder, SparseEncoder()).dense_only(QUESTION, TOP)
    assert [n.node.node_id for n in nodes] == [chunk_point_id(p.doc_id, p.chunk_indexes[0]) for p in own]
    assert [n.node.get_content() for n in nodes] == [p.text for p in own]
    assert [n.score for n in nodes] == pytest.approx([p.scores["dense"] for p in own], abs=1e-5)
    assert any("287.5" in n.node.get_content() for n in nodes)


def test_the_nodes_carry_verirags_payload_as_metadata(qdrant, embedder):
    client, _ = qdrant
    for hit in stock_retriever(client, embedder).retrieve(QUESTION):
        metadata = hit.node.metadata
        assert {"doc_id", "source", "title", "section_path", "pages", "char_start", "char_end", "chunk_index",
                "chunk_count", "meta"} <= set(metadata)
        assert metadata["doc_id"] in SMALL_SAMPLES and "text" not in metadata
        assert hit.node.node_id == chunk_point_id(metadata["doc_id"], metadata["chunk_index"])
        assert metadata["char_end"] - metadata["char_start"] == len(hit.node.get_content())


def test_stock_metadata_filters_name_verirags_payload_keys(qdrant, embedder):
    client, store = qdrant
    only = MetadataFilters(filters=[MetadataFilter(key="doc_id", value="release_notes.txt")])
    nodes = stock_retriever(client, embedder, filters=only).retrieve(QUESTION)
    own = Retriever(store, embedder, SparseEncoder()).dense_only(
        QUESTION, TOP, [FieldFilter("doc_id", "release_notes.txt")])
    assert nodes and {n.node.metadata["doc_id"] for n in nodes} == {"release_notes.txt"}
    assert [n.node.get_content() for n in nodes] == [p.text for p in own]
