"""The entailment layer inside the verifier: where it sits (after decisive exact checks, before the LLM
judge), what a claim it judges shows (judge, probabilities, the span it read), how pairs are chosen and
batched, and how models are loaded (a tiny model this test builds, a missing path).

The model is a scripted stand-in (``ScriptedModel``) so that these tests pin the verifier's rules, not
the trained model's quality; tests that need the shipped model's labels live with the model."""

from __future__ import annotations

import numpy as np
import pytest

from rag.settings import Settings
from rag.types import Generation, Passage, Usage
from rag.verify.entailment import Decision, EntailmentModelError, load_entailment_model
from rag.verify.entailment_judging import MAX_CALLS, MAX_PAIRS_PER_ANSWER, MAX_PAIRS_PER_CLAIM
from rag.verify.policy import warnings_for
from rag.verify.verifier import AnswerVerifier

SUPPORTED = (0.9, 0.08, 0.02)
NOT_SUPPORTED = (0.05, 0.9, 0.05)
CONTRADICTED = (0.03, 0.07, 0.9)
BETWEEN = (0.45, 0.45, 0.1)

TURBINE = (
    "The Kaplan turbine of Unit 3 runs at 187.5 rpm in normal operation. It was commissioned in March 2019 "
    "after a two-year refit. The overspeed trip is set at 287.5 rpm."
)
LADDER = (
    "Maintenance crews inspect the fish ladder every 14 days. The reservoir holds 3.2 million cubic metres "
    "of water. Swimming in the reservoir is forbidden."
)


def passage(label: str, text: str) -> Passage:
    return Passage(label, f"doc-{label}", text, f"file:///docs/{label}.pdf", "Northwind", ("Operations",), (3,),
                   100, 100 + len(text), (0,))  # fmt: skip


PASSAGES = [passage("S1", TURBINE), passage("S2", LADDER)]


def answer(text: str, reasoning: str = "") -> Generation:
    return Generation(reasoning, text, Usage(), "stop", "local")


class ScriptedModel:
    """Probabilities by rule: the first (hypothesis words, premise words) rule whose words are all in the
    pair gives its row; otherwise ``default``. Records every call."""

    name = "scripted"

    def __init__(self, rules=(), default=NOT_SUPPORTED, decision=Decision(0.6, 0.6, 0.3), max_length=256):
        self.rules = list(rules)
        self.default = default
        self.decision = decision
        self.max_length = max_length
        self.calls: list[list[tuple[str, str]]] = []

    def probabilities(self, pairs):
        self.calls.append(list(pairs))
        rows = []
        for premise, hypothesis in pairs:
            row = self.default
            for claim_words, premise_words, probabilities in self.rules:
                if all(w in hypothesis for w in claim_words) and all(w in premise for w in premise_words):
                    row = probabilities
                    break
            rows.append(row)
        return np.array(rows, dtype=np.float32)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [pair for call in self.calls for pair in call]


def verifier_with(model, **settings) -> AnswerVerifier:
    return AnswerVerifier(Settings(verify_judge="off", **settings), None, entailment_model=model)


def answer_checks(verdict):
    return [check for check in verdict.claims if check.origin == "answer"]


# -- the layer and the judge field -------------------------------------------------------------------


def test_a_paraphrase_the_model_supports_is_judged_by_entailment_with_its_probabilities():
    model = ScriptedModel([(("Bathing",), ("Swimming",), SUPPORTED)])
    verdict = verifier_with(model).verify(None, PASSAGES, answer("Bathing in the reservoir is not allowed [S2]."))
    (check,) = answer_checks(verdict)
    assert (check.status, check.judge, check.citation_issue) == ("supported", "entailment", None)
    assert check.confidence == pytest.approx(0.9)  # a probability, not a similarity
    assert check.probabilities == pytest.approx({"supported": 0.9, "not_supported": 0.08, "contradicted": 0.02})
    assert check.evidence.label == "S2" and "Swimming" in check.evidence.text
    assert any(check.evidence.text == premise for premise, _ in model.pairs)  # the span the model read
    data = check.to_dict()
    assert data["judge"] == "entailment" and set(data["probabilities"]) == {"supported", "not_supported", "contradicted"}


def test_what_the_model_calls_contradicted_or_unsupported_is_reported_so():
    model = ScriptedModel([(("daily",), (), CONTRADICTED)])
    verdict = verifier_with(model).verify(None, PASSAGES, answer(
        "Crews look at the fish ladder daily [S2]. The reservoir is popular with anglers [S2]."))
    contradicted, unsupported = answer_checks(verdict)
    assert (contradicted.status, contradicted.judge, contradicted.confidence) == ("contradicted", "entailment", pytest.approx(0.9))
    assert (unsupported.status, unsupported.judge) == ("unsupported", "entailment")
    assert unsupported.confidence == pytest.approx(0.95)  # 1 - P(supported)
    assert verdict.label == "unsupported"


def test_decisive_exact_findings_decide_before_the_model_reads_the_claim():
    model = ScriptedModel(default=SUPPORTED)  # a model that would support anything
    verdict = verifier_with(model).verify(None, PASSAGES, answer(
        "The overspeed trip is set at 300 rpm [S1]. The manual calls Unit 3 \"the quietest turbine\" [S1]."))
    wrong_number, fabricated_quote = answer_checks(verdict)
    assert (wrong_number.status, wrong_number.judge) == ("contradicted", "exact")
    assert (fabricated_quote.status, fabricated_quote.judge) == ("unsupported", "exact")
    assert model.pairs == []  # neither was read


def test_an_exact_support_the_model_reads_as_contradicted_does_not_stand():
    claim = "Unit 3 runs at 187.5 rpm, which was reached in March 2019 [S1]."
    model = ScriptedModel([(("reached",), (), CONTRADICTED)], default=SUPPORTED)
    (check,) = answer_checks(verifier_with(model).verify(None, PASSAGES, answer(claim)))
    assert (check.status, check.judge) == ("contradicted", "entailment")
    assert any("checkable item" in note for note in check.notes)  # the exact finding stays visible
    assert len(model.pairs) == 1  # a decisive exact support is read once, against its passage
    # Without the model's objection the exact support stands, with the model's probabilities beside it.
    agreeing = ScriptedModel(default=SUPPORTED)
    (check,) = answer_checks(verifier_with(agreeing).verify(None, PASSAGES, answer(claim)))
    assert (check.status, check.judge) == ("supported", "exact") and check.probabilities["supported"] == pytest.approx(0.9)


def test_a_word_for_word_quote_stands_whatever_the_model_says():
    model = ScriptedModel(default=CONTRADICTED)
    (check,) = answer_checks(verifier_with(model).verify(None, PASSAGES, answer("The overspeed trip is set at 287.5 rpm [S1].")))
    assert (check.status, check.judge) == ("supported", "exact")


def test_a_claim_no_judge_decides_is_undecided_not_supported():
    model = ScriptedModel(default=BETWEEN)
    verdict = verifier_with(model).verify(None, PASSAGES, answer("The crews care about the fish [S2]."))
    (check,) = answer_checks(verdict)
    assert check.status == "undecided" and check.judge == "entailment"
    assert check.confidence == 0.0 and check.probabilities["supported"] == pytest.approx(0.45)
    assert any("leans" in note for note in check.notes)
    assert verdict.label != "supported"
    assert any("no judge could decide" in warning for warning in warnings_for(verdict))


def test_with_the_llm_judge_off_no_language_model_is_asked(monkeypatch):
    import rag.backends

    def no_backend(*args, **kwargs):
        raise AssertionError("the LLM judge must not run with verify_judge=off")

    monkeypatch.setattr(rag.backends, "backend_for", no_backend)
    model = ScriptedModel(default=BETWEEN)
    verdict = verifier_with(model).verify(None, PASSAGES, answer("The crews care about the fish [S2]."))
    assert answer_checks(verdict)[0].status == "undecided" and verdict.judge_model is None


def test_undecided_claims_still_go_to_the_llm_judge(monkeypatch):
    import rag.backends
    from rag.backends import ModelError

    asked = []

    def failing_backend(profile, settings=None):
        asked.append(profile)
        raise ModelError("no judge here")

    monkeypatch.setattr(rag.backends, "backend_for", failing_backend)
    model = ScriptedModel(default=BETWEEN)
    settings = Settings(verify_judge="uncertain", verify_judge_model="deepseek-v4-flash")
    verdict = AnswerVerifier(settings, None, entailment_model=model).verify(
        None, PASSAGES, answer("The crews care about the fish [S2]."))
    assert asked and any("could not run" in issue for issue in verdict.issues)


def test_the_entailment_setting_off_keeps_the_similarity_layer(embedder):
    # A configured model that does not exist is not even loaded when the layer is off.
    settings = Settings(verify_judge="off", verify_entailment=False, entailment_model="/nonexistent/model")
    verdict = AnswerVerifier(settings, embedder).verify(None, PASSAGES, answer("Penguins migrate across Antarctica [S2]."))
    (check,) = answer_checks(verdict)
    assert check.judge in ("semantic", "exact") and check.probabilities is None


def test_the_layer_can_be_left_out_by_the_layers_argument():
    model = ScriptedModel(default=SUPPORTED)
    verifier = AnswerVerifier(Settings(verify_judge="off"), None, layers=("exact",), entailment_model=model)
    verifier.verify(None, PASSAGES, answer("The crews care about the fish [S2]."))
    assert verifier.entailment is None and model.calls == []


# -- what is read, and how it is batched -------------------------------------------------------------


def test_all_pairs_of_an_answer_are_scored_together_sorted_by_length():
    model = ScriptedModel(default=SUPPORTED)
    text = ("The crews care about the fish [S2]. The turbine spins steadily [S1]. "
            "Bathing is not allowed [S2]. The refit took a while [S1].")
    verdict = verifier_with(model).verify(None, PASSAGES, answer(text))
    assert 1 <= len(model.calls) <= MAX_CALLS
    lengths = [len(p) + len(h) for p, h in model.pairs]
    assert lengths == sorted(lengths)
    claims = len(answer_checks(verdict))
    assert len(model.pairs) <= claims * MAX_PAIRS_PER_CLAIM
    # Short passages fit the model's input: each is read whole, once per claim.
    assert {premise for premise, _ in model.pairs} <= {TURBINE, LADDER}
    for check in answer_checks(verdict):
        assert len([h for _, h in model.pairs if h == check.text]) <= len(PASSAGES)


def test_long_passages_are_read_as_spans_and_pairs_are_capped():
    filler = " ".join(f"Gate {n} of the spillway was painted green in the spring." for n in range(40))
    long = passage("S3", filler + " The fish pass counts salmon with an optical counter. " + filler)
    model = ScriptedModel([(("counted",), ("optical",), SUPPORTED)])
    verdict = verifier_with(model).verify(None, [*PASSAGES, long], answer("Salmon are counted optically [S3]."))
    (check,) = answer_checks(verdict)
    assert (check.status, check.judge, check.evidence.label) == ("supported", "entailment", "S3")
    assert "optical counter" in check.evidence.text and len(check.evidence.text) < 300
    assert all(len(premise) < len(long.text) for premise, _ in model.pairs)
    assert len(model.pairs) <= MAX_PAIRS_PER_CLAIM


def test_a_claim_citing_two_passages_is_also_read_against_both_together():
    model = ScriptedModel([(("reservoir", "turbine"), ("Kaplan", "Swimming"), SUPPORTED)])
    verdict = verifier_with(model).verify(None, PASSAGES, answer(
        "The turbine sits below a reservoir where nobody may swim [S1][S2]."))
    (check,) = answer_checks(verdict)
    assert (check.status, check.citation_issue) == ("supported", None)
    assert any("Kaplan" in premise and "Swimming" in premise for premise, _ in model.pairs)


def test_short_answers_are_read_alone_their_question_only_finds_the_evidence():
    # Read with its question, the question's own words count as a claim the passage must support
    # (docs/verifier.md measures it on HaluEval); the question still picks the spans the model reads.
    model = ScriptedModel(default=SUPPORTED)
    question = "What came before the commissioning of Unit 3?"
    verifier_with(model).verify(question, PASSAGES, answer("A long refit [S1]."))
    assert model.pairs and all(hypothesis == "A long refit." for _, hypothesis in model.pairs)
    assert any("commission" in premise.lower() for premise, _ in model.pairs)


def test_trace_statements_are_read_without_their_attribution():
    model = ScriptedModel(default=SUPPORTED)
    verifier_with(model).verify(None, PASSAGES, answer(
        "The crews care about the fish [S2].", reasoning="S2 says that crews look after the fish ladder."))
    assert "Crews look after the fish ladder." in {hypothesis for _, hypothesis in model.pairs}


def test_the_pairs_of_one_answer_are_capped():
    model = ScriptedModel(default=BETWEEN)
    text = " ".join(f"Crew {n} cares about the fish in its own way [S1][S2]." for n in range(40))
    verifier_with(model).verify(None, PASSAGES, answer(text))
    assert len(model.pairs) <= MAX_PAIRS_PER_ANSWER


class CountingEmbedder:
    def __init__(self, inner):
        self.inner = inner
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        return self.inner.embed(texts)


def test_claims_are_embedded_only_where_similarity_can_change_what_is_read(embedder):
    counting = CountingEmbedder(embedder)
    model = ScriptedModel(default=BETWEEN)
    verifier = AnswerVerifier(Settings(verify_judge="off"), counting, entailment_model=model)
    # Two short passages: both are read whole whatever the ranking.
    verifier.verify(None, PASSAGES, answer("Bathing is not allowed [S2]."))
    assert counting.texts == []
    # A long passage read as spans, and a claim sharing no words with them: similarity finds the span.
    filler = " ".join(f"Gate {n} of the spillway was painted green in the spring." for n in range(40))
    long = passage("S3", filler + " The fish pass counts salmon with an optical counter. " + filler)
    verifier.verify(None, [*PASSAGES, long], answer("Migrating fish are tallied by a camera [S3]."))
    assert any("tallied" in text for text in counting.texts)


def test_a_trace_claim_is_read_once():
    model = ScriptedModel(default=BETWEEN)
    verifier_with(model).verify(None, PASSAGES, answer(
        "The crews care about the fish [S2].", reasoning="The turbine and the fish ladder are both well kept."))
    trace_pairs = [pair for pair in model.pairs if pair[1].startswith("The turbine and")]
    assert len(trace_pairs) == 1


def test_a_model_that_fails_is_reported_and_its_claims_stay_undecided():
    class Broken(ScriptedModel):
        def probabilities(self, pairs):
            raise RuntimeError("onnxruntime: out of memory")

    verdict = verifier_with(Broken()).verify(None, PASSAGES, answer("The crews care about the fish [S2]."))
    assert any("entailment model" in issue and "could not run" in issue for issue in verdict.issues)
    assert answer_checks(verdict)[0].status == "undecided"


# -- loading models -----------------------------------------------------------------------------------


def test_a_configured_model_path_that_does_not_exist_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(EntailmentModelError, match="no-such-model"):
        AnswerVerifier(Settings(entailment_model=str(missing)), None)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer BERT sequence classifier with a 40-word vocabulary, saved as a Hugging Face folder."""
    transformers = pytest.importorskip("transformers")
    import torch

    folder = tmp_path_factory.mktemp("tiny-nli")
    words = ("the crews inspect fish ladder every days reservoir holds water swimming is forbidden turbine "
             "runs at rpm unit care about bathing not allowed in of a an and it was . , 14 3 187 5").split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(words)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    labels = {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=128,
                                     num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


LABEL_MAP = {"ENTAILMENT": "supported", "NEUTRAL": "not_supported", "CONTRADICTION": "contradicted"}


def test_a_custom_model_loads_by_path_with_a_label_map(tiny_model_dir):
    model = load_entailment_model(str(tiny_model_dir), LABEL_MAP)
    probabilities = model.probabilities([(LADDER, "Crews inspect the fish ladder."), (TURBINE, "It was 14 days.")])
    assert probabilities.shape == (2, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(EntailmentModelError, match="entailment_labels"):
        load_entailment_model(str(tiny_model_dir), {"ENTAILMENT": "supported", "NEUTRAL": "maybe", "CONTRADICTION": "contradicted"})


def test_a_custom_model_runs_inside_the_verifier(tiny_model_dir):
    settings = Settings(verify_judge="off", entailment_model=str(tiny_model_dir), entailment_labels=LABEL_MAP)
    verifier = AnswerVerifier(settings, None)
    verdict = verifier.verify(None, PASSAGES, answer("The crews care about the fish [S2]. Unit 3 runs at 150 rpm [S1]."))
    paraphrase, wrong_number = answer_checks(verdict)
    assert paraphrase.judge == "entailment" and paraphrase.status in ("supported", "unsupported", "contradicted", "undecided")
    assert sum(paraphrase.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert (wrong_number.status, wrong_number.judge) == ("contradicted", "exact")
