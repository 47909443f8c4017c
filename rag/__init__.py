"""verirag core library: types, settings, embeddings, vector stores, retrieval, prompts, model
backends, the answering pipeline and the verifier. Imports nothing from ingest, api or eval."""

from rag.offline import apply_offline_defaults

apply_offline_defaults()

__version__ = "0.1.0"
