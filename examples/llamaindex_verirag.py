"""verirag from LlamaIndex: nodes with verirag's metadata, a checked answer, and verirag's verifier on an answer
LlamaIndex got elsewhere.

    make demo                               # once: the collection "demo" from samples/
    python examples/llamaindex_verirag.py   # in this process; VERIRAG_URL/VERIRAG_API_KEY: a `verirag serve`
"""

import os

from llama_index.core.base.response.schema import Response

from integrations.backend import connect
from integrations.llamaindex import VeriragEvaluator, VeriragQueryEngine, VeriragRetriever

QUESTION = "At what speed does Unit 3 trip on overspeed?"
verirag = connect(os.environ.get("VERIRAG_URL"), os.environ.get("VERIRAG_API_KEY"))

for hit in VeriragRetriever("demo", top_k=3, backend=verirag).retrieve(QUESTION):
    meta = hit.node.metadata
    print(f"{hit.score:.4f}  {meta['doc_id']}  section {' > '.join(meta['section_path']) or '-'}  "
          f"characters {meta['char_start']}-{meta['char_end']}")

response = VeriragQueryEngine("demo", top_k=4, backend=verirag).query(QUESTION)
print(f"\n{response}\nverdict: {response.metadata['verdict']['label']}")
for claim in response.metadata["verdict"]["claims"]:
    print(f"  {claim['status']:<14} {claim['text']}")

# Any LlamaIndex response, checked against its own source nodes: here the answer changed a number.
changed = Response(response="Unit 3 trips on overspeed at 312.5 rpm.", source_nodes=response.source_nodes)
evaluation = VeriragEvaluator(backend=verirag).evaluate_response(query=QUESTION, response=changed)
print(f"\nchanged answer passing: {evaluation.passing}; {evaluation.feedback}")
verirag.close()
