"""What the model answers in the browser tests: fixed replies, chosen by the question, that cite the
right passage whatever order retrieval put it in. The reasoning streams at a readable pace, so a
test can see it arrive before the answer.

* the overspeed question: a trace that misreads its source, then an answer with one supported claim
  and one contradicted claim, both citing the runbook's passage;
* the spillway question: one supported claim citing the safety manual (an uploaded PDF);
* anything else: one grounded sentence about the overspeed trip.
"""

from __future__ import annotations

from tests.support.deepseek_server import Reply, label_holding

OVERSPEED_QUESTION = "At what speed does Unit 3 trip on overspeed?"
SIREN_QUESTION = "How long before a spillway gate moves does the siren sound?"
SUPPORTED_CLAIM = "Unit 3 trips on overspeed at 287.5 rpm"
CONTRADICTED_CLAIM = "Unit 3 is rated at 400 rpm"
MISREAD_TRACE = "says Unit 3 trips at 312.5 rpm"
SIREN_CLAIM = "The spillway siren sounds 10 minutes before any spillway gate moves"
PACE_S = 0.08  # between two streamed deltas


def words(text: str) -> list[str]:
    pieces = text.split(" ")
    return [piece + " " for piece in pieces[:-1]] + [pieces[-1]]


def last_question(body: dict) -> str:
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


def scripted_reply(body: dict) -> Reply:
    system, question = body["messages"][0]["content"], last_question(body)
    if "siren" in question:
        label = label_holding(system, "sounds 10 minutes before any spillway gate")  # the safety manual
        reasoning = f"Source {label} is the safety manual; its rule on the spillway siren answers this."
        return Reply(reasoning=words(reasoning),
                     content=words(f"{SIREN_CLAIM} [{label}]."), delta_interval=PACE_S)
    label = label_holding(system, "setting of 287.5 rpm")  # the maintenance log's overspeed trip test
    reasoning = f"Let me find the trip speeds in the sources. {label} {MISREAD_TRACE}. Unit 3 is the Kaplan unit."
    content = f"{SUPPORTED_CLAIM} [{label}]. {CONTRADICTED_CLAIM} [{label}]."
    if question != OVERSPEED_QUESTION:  # a follow-up, or another question: one grounded sentence
        content = f"{SUPPORTED_CLAIM} [{label}]."
    return Reply(reasoning=words(reasoning), content=words(content), delta_interval=PACE_S)
