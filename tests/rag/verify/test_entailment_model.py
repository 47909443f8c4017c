"""The shipped entailment model: loads offline, and reads clear cases right.

These pairs are textbook cases, one per kind of error the verifier exists to catch; the model's measured
accuracy lives in the benchmark (docs/verifier.md), not here."""

from __future__ import annotations

import numpy as np
import pytest

from rag.verify.entailment import (ENTAILMENT_LABELS, EntailmentModelError, load_entailment_model,
                                   shipped_model_dir)

SUPPORTED, NOT_SUPPORTED, CONTRADICTED = range(3)
EVIDENCE = ("The trial enrolled 120 adults with type 2 diabetes in Norway between 2015 and 2018. Patients "
            "who took metformin had lower blood glucose after six months than patients who took a placebo.")


@pytest.fixture(scope="module")
def model():
    return load_entailment_model()


def label_of(model, evidence: str, claim: str) -> str:
    return ENTAILMENT_LABELS[int(np.argmax(model.probabilities([(evidence, claim)])[0]))]


def test_the_shipped_model_loads_offline_and_gives_probabilities(model):
    assert (shipped_model_dir() / "model.onnx").stat().st_size <= 32 * 1024 * 1024
    probs = model.probabilities([(EVIDENCE, "The trial took place in Norway."), ("A dog runs.", "A cat sleeps.")])
    assert probs.shape == (2, 3)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert ((probs >= 0) & (probs <= 1)).all()
    assert model.probabilities([]).shape == (0, 3)


KNOWN_WEAKNESS = ("the shipped model (one 100-minute CPU run, 1.2 epochs) misses this; docs/verifier.md lists "
                  "its known misjudgments. strict: the test fails once a retrained model gets it right")


def test_a_compressed_paraphrase_is_supported(model):
    assert label_of(model, EVIDENCE, "Metformin lowered blood glucose compared with placebo.") == "supported"


@pytest.mark.parametrize("claim", [
    pytest.param("Patients who took metformin had higher blood glucose than patients who took a placebo.",
                 id="antonym"),
    pytest.param("Patients who took metformin did not have lower blood glucose than patients who took a placebo.",
                 id="negation"),
    pytest.param("Patients who took a placebo had lower blood glucose than patients who took metformin.",
                 marks=pytest.mark.xfail(strict=True, reason=KNOWN_WEAKNESS), id="swapped"),
])
def test_a_reversed_fact_is_not_supported(model, claim):
    right = model.probabilities([(EVIDENCE, "Patients who took metformin had lower blood glucose than "
                                            "patients who took a placebo.")])[0]
    wrong = model.probabilities([(EVIDENCE, claim)])[0]
    assert label_of(model, EVIDENCE, claim) != "supported"
    assert wrong[SUPPORTED] < right[SUPPORTED]


def test_a_changed_place_or_number_is_contradicted(model):
    assert label_of(model, EVIDENCE, "The trial took place in Sweden.") == "contradicted"
    assert label_of(model, EVIDENCE, "The trial enrolled 300 adults.") == "contradicted"
    assert label_of(model, EVIDENCE, "The trial took place in Norway.") == "supported"


def test_an_unrelated_claim_is_not_supported(model):
    assert label_of(model, EVIDENCE, "The Eiffel Tower was completed in 1889.") != "supported"


def test_a_missing_model_folder_names_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(EntailmentModelError, match="no-such-model"):
        load_entailment_model(str(missing))
