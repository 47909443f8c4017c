"""One passage pair and two answers about it, shared by the tests of `verirag verify` and `POST /v1/verify`."""

import pytest

RUNBOOK = (
    "The turbine governor trips a unit at 115 % of its rated speed. Units 1 and 2 (Francis, 12 MW each) are "
    "rated at 300 rpm and trip at 345 rpm. Unit 3 (Kaplan, 6 MW) is rated at 250 rpm and trips at 287.5 rpm."
)
LOG = "On 2024-07-16 the Unit 3 overspeed trip test (WO-2458) tripped at 287 rpm against a setting of 287.5 rpm."
QUESTION = "At what speed does Unit 3 trip on overspeed?"
SUPPORTED = "Unit 3 trips on overspeed at 287.5 rpm [S1]."
CONTRADICTED = "Unit 3 trips on overspeed at 312.5 rpm [S1]."

MISCITED_BY_MODEL = pytest.mark.xfail(strict=True, reason=(
    "known misjudgment of the shipped entailment model: it reads 'Unit 3 (Kaplan) … trips at 287.5 rpm' as not "
    "supporting 'Unit 3 trips on overspeed at 287.5 rpm', so the claim is reported miscited (docs/verifier.md)"))
