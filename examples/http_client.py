"""Ask a running `verirag serve` from Python: the answer with its verdict, then the same question streamed.

    make demo                        # once: the collection "demo" from samples/
    verirag serve --open             # another terminal (loopback, no keys)
    python examples/http_client.py   # VERIRAG_URL and VERIRAG_API_KEY say which server, with which key
"""

import os

from api.client import AnswerEvent, Client, DoneEvent, RetrievalEvent, VeriragError

QUESTION = "At what speed does Unit 3 trip on overspeed?"
URL = os.environ.get("VERIRAG_URL", "http://127.0.0.1:8000")

with Client(URL, api_key=os.environ.get("VERIRAG_API_KEY")) as client:
    try:
        answer = client.query(QUESTION, collection="demo", top_k=4)
    except VeriragError as error:  # an error status carries the API's body: type, message, request id
        raise SystemExit(f"verirag said no: {error}") from error
    print(answer.answer)
    for citation in answer.citations:
        print(f"  [{citation.label}] {citation.doc_id}, characters {citation.char_start}-{citation.char_end}")
    print(f"verdict: {answer.verdict.label} (score {answer.verdict.score:.2f})")

    print("\nstreamed:")
    for event in client.query_stream(QUESTION, collection="demo", top_k=4):
        if isinstance(event, RetrievalEvent):
            print("sources:", ", ".join(passage.doc_id for passage in event.passages))
        elif isinstance(event, AnswerEvent):
            print(event.text, end="", flush=True)
        elif isinstance(event, DoneEvent):
            print(f"\nverdict: {event.result.verdict.label}")
