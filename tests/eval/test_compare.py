"""`verirag eval compare`: paired changes with bootstrap intervals, and --fail-if thresholds."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from eval.catalog import aggregate
from eval.cli import register
from eval.compare import ThresholdError, compare_runs, load_thresholds
from eval.results import SCHEMA_VERSION


def qa_item(key: str, rouge: float, ndcg: float, generate_s: float) -> dict:
    return {"key": key, "part": "qa", "answerable": True, "abstained": False, "metrics": {"rouge_score": rouge},
            "retrieval": {"ndcg@10": ndcg}, "timings": {"generate": generate_s}, "error": None}


def labelled_item(key: str, gold: str, label: str, score: float) -> dict:
    return {"key": key, "part": "verifier", "gold": gold, "verdict": {"label": label, "score": score},
            "baselines": {"length": {"score": 1.0, "flagged": False}, "overlap": {"score": 0.0, "flagged": False}},
            "error": None}


def write_run(folder, items) -> str:
    folder.mkdir(parents=True)
    results = {"schema": SCHEMA_VERSION, "run": {}, "metrics": aggregate(items), "counts": {}, "items": items}
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return str(folder)


@pytest.fixture
def runs(tmp_path):
    """B answers every question 0.1 worse (ROUGE) and the same on retrieval; one item only in A."""
    a_items = [qa_item(f"qa:{i}", 0.5 + 0.04 * i, 0.6, 1.0 + i) for i in range(10)] + [qa_item("qa:only-a", 1.0, 1.0, 1.0)]
    b_items = [qa_item(f"qa:{i}", 0.4 + 0.04 * i, 0.6, 1.0 + i) for i in range(10)]
    a_items += [labelled_item("verifier:p", "unsupported", "unsupported", 0.1),
                labelled_item("verifier:n", "supported", "supported", 0.9)]
    b_items += [labelled_item("verifier:p", "unsupported", "supported", 0.8),
                labelled_item("verifier:n", "supported", "supported", 0.9)]
    return write_run(tmp_path / "a", a_items), write_run(tmp_path / "b", b_items)


def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    return app


def test_paired_change_of_a_constant_drop_has_an_exact_interval(runs):
    from eval.results import load_results

    comparison = compare_runs(load_results(runs[0]), load_results(runs[1]), resamples=500)
    changes = {change.metric: change for change in comparison.changes}

    assert comparison.paired == 12 and comparison.only_a == 1 and comparison.only_b == 0
    rouge = changes["answers.rouge_score"]
    # Every pair differs by exactly −0.1, so every resample does too.
    assert rouge.delta == pytest.approx(-0.1) and rouge.low == pytest.approx(-0.1) and rouge.high == pytest.approx(-0.1)
    assert rouge.paired == 10 and rouge.a == pytest.approx(0.68)  # over the paired items: "only-a" is left out
    ndcg = changes["retrieval.ndcg@10"]
    assert ndcg.delta == 0.0 and ndcg.low == 0.0 and ndcg.high == 0.0
    assert changes["verifier.recall"].a == 1.0 and changes["verifier.recall"].b == 0.0
    assert changes["operations.latency.generate.p50"].delta == 0.0


def test_compare_prints_each_metric_with_its_interval(runs):
    result = CliRunner().invoke(cli_app(), ["eval", "compare", *runs, "--resamples", "300"])

    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("answers.rouge_score"))
    assert "-0.1000" in line and "[-0.1000, -0.1000]" in line and line.rstrip().endswith("worse")
    assert "12 items in both runs (A only: 1, B only: 0)" in result.output


def test_fail_if_thresholds_fail_and_pass(tmp_path, runs):
    strict = tmp_path / "strict.toml"
    strict.write_text(
        '[fail_if]\n"answers.rouge_score" = { drop_more_than = 0.05 }\n"retrieval.ndcg@10" = { drop_more_than = 0.01 }\n',
        encoding="utf-8",
    )
    failed = CliRunner().invoke(cli_app(), ["eval", "compare", *runs, "--fail-if", str(strict), "--resamples", "300"])
    assert failed.exit_code == 1
    assert "FAILED 1 of 2 thresholds" in failed.output and "answers.rouge_score: dropped by 0.1000" in failed.output

    lenient = tmp_path / "lenient.toml"
    lenient.write_text(
        '[fail_if]\n"answers.rouge_score" = { drop_more_than = 0.2, significant = true }\n'
        '"retrieval.ndcg@10" = { min = 0.5 }\n"operations.latency.generate.p95" = { rise_more_than = 0.5 }\n',
        encoding="utf-8",
    )
    passed = CliRunner().invoke(cli_app(), ["eval", "compare", *runs, "--fail-if", str(lenient), "--resamples", "300"])
    assert passed.exit_code == 0, passed.output
    assert "all 3 thresholds" in passed.output


def test_a_threshold_on_a_metric_the_runs_lack_fails(tmp_path, runs):
    rules = tmp_path / "rules.toml"
    rules.write_text('[fail_if]\n"answers.faithfulness" = { drop_more_than = 0.01 }\n', encoding="utf-8")
    result = CliRunner().invoke(cli_app(), ["eval", "compare", *runs, "--fail-if", str(rules), "--resamples", "200"])
    assert result.exit_code == 1 and "answers.faithfulness: no paired change" in result.output


@pytest.mark.parametrize(
    "text, message",
    [
        ('[fail_if]\n"x" = { drop_by = 1 }\n', "unknown key(s) drop_by"),
        ('[fail_if]\n"x" = 0.1\n', "must be an inline table"),
        ('[fail_if]\n"x" = { min = "high" }\n', "min must be a number"),
        ('[fail_if]\n"x" = { significant = true }\n', "sets no limit"),
        ("[thresholds]\n", "expected a [fail_if] table"),
        ("[fail_if\n", "not valid TOML"),
    ],
)
def test_bad_threshold_files_are_named(tmp_path, text, message):
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ThresholdError) as error:
        load_thresholds(path)
    assert message in str(error.value) and "rules.toml" in str(error.value)


def test_unreadable_runs_exit_2(tmp_path, runs):
    result = CliRunner().invoke(cli_app(), ["eval", "compare", runs[0], str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "nowhere" in result.output
