"""Doors into verirag from the libraries people already use, each a thin layer over the core:

* ``integrations.llamaindex`` — a retriever, a query engine with checked answers, an evaluator and a
  verifying wrapper for any LlamaIndex query engine, and what stock ``QdrantVectorStore`` needs to read a
  verirag collection (extra ``verirag[llamaindex]``);
* ``integrations.langchain`` — a retriever, a runnable that answers with its verdict and one that verifies
  another chain's answer (extra ``verirag[langchain]``);
* ``integrations.mcp_server`` — ``verirag mcp``, a Model Context Protocol server (extra ``verirag[mcp]``).

All of them reach verirag through :func:`integrations.backend.connect`: in this process (the embedded engine
or a Qdrant server, as the settings say) or a remote verirag API by URL and key (``api.client``). Nothing
here is imported by the core library, and importing this package imports none of those libraries.
"""
