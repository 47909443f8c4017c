"""The harness's choice of figures and the command lines it builds; a stand-in script plays the figure
where a run is needed, so no real benchmark starts."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from bench import harness
from bench.figures import FIGURES

BY_KEY = {f.key: f for f in FIGURES}


def numbers(figures) -> list[int]:
    return [f.number for f in figures]


def test_default_runs_all_but_the_fresh_setup():
    assert numbers(harness.select()) == [1, 2, 3, 4, 5, 7, 8, 9]


def test_fresh_setup_only_when_asked():
    assert numbers(harness.select(only="6")) == [6]
    assert numbers(harness.select(with_setup=True)) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert numbers(harness.select(only="1,3", with_setup=True)) == [1, 3, 6]


def test_only_and_skip_by_number_or_key_in_figure_order():
    assert numbers(harness.select(only="3,1")) == [1, 3]
    assert numbers(harness.select(only="verifier,ingest")) == [1, 3]
    assert numbers(harness.select(skip="2,api")) == [1, 3, 5, 7, 8, 9]
    assert numbers(harness.select(only="1,3", skip="3")) == [1]


def test_unknown_figure_is_an_error():
    with pytest.raises(ValueError, match="unknown figure '99'"):
        harness.select(only="99")


def test_quick_preset_arguments(tmp_path):
    argv = harness.command(BY_KEY["ingest"], "quick", python="/usr/bin/python3", datasets_dir=Path("/data"))
    assert argv == ["/usr/bin/python3", "bench/ingest_throughput.py", "--limit", "500",
                    "--corpus", "/data/scifact/corpus.jsonl", "--out", "bench/results/scifact.json",
                    "--markdown", "bench/results/scifact.md"]
    latency = harness.command(BY_KEY["latency"], "quick", datasets_dir=Path("/data"))
    assert "--sizes" in latency and latency[latency.index("--sizes") + 1] == "10000,100000"
    verifier = harness.command(BY_KEY["verifier"], "quick", datasets_dir=Path("/data"))
    assert verifier[2:8] == ["--limit", "300", "--llm-sample", "0", "--latency-items", "300"]
    assert verifier[verifier.index("--datasets-dir") + 1] == "/data"


def test_full_preset_is_the_scripts_defaults():
    assert harness.command(BY_KEY["verifier"], "full", datasets_dir=Path("/d"))[2:] == [
        "--datasets-dir", "/d", "--out", "bench/results/verifier-latency.json",
        "--markdown", "bench/results/verifier-latency.md"]
    prefix = harness.command(BY_KEY["prefix"], "full")
    assert prefix[1:] == ["bench/prefix_reuse.py", "--out", "bench/results/prefix_reuse.json"]


def test_python_inside_the_repository_is_shown_relative():
    argv = harness.command(BY_KEY["api"], "quick", python=str(harness.ROOT / ".venv" / "bin" / "python"))
    assert argv[0] == ".venv/bin/python"


def test_missing_dataset_is_not_run_and_not_a_failure(tmp_path):
    outcome = harness.run_figure(BY_KEY["latency"], "quick", results_dir=tmp_path, logs_dir=tmp_path / "logs",
                                 datasets_dir=tmp_path / "absent")
    assert not outcome.ran and not outcome.ok
    assert outcome.note.startswith("not run: dataset missing")
    assert not (tmp_path / "logs").exists()


def stand_in(tmp_path: Path, body: str):
    """A figure whose script is a few lines of Python: writes --out the way a benchmark would."""
    script = tmp_path / "stand_in.py"
    script.write_text("import json, sys\nout = sys.argv[sys.argv.index('--out') + 1]\n" + body, encoding="utf-8")
    return dataclasses.replace(BY_KEY["prefix"], script=str(script), result="stand_in")


def test_a_finished_run_moves_its_result_into_place_with_how_it_was_made(tmp_path):
    figure = stand_in(tmp_path, "print('progress')\njson.dump({'date': '2026-11-30', 'value': 1}, open(out, 'w'))\n")
    outcome = harness.run_figure(figure, "quick", python=sys.executable, results_dir=tmp_path,
                                 logs_dir=tmp_path / "logs")
    assert outcome.ok
    result = json.loads((tmp_path / "stand_in.json").read_text())
    assert result["value"] == 1 and result["harness"]["preset"] == "quick"
    assert result["harness"]["command"].endswith(f"--out {tmp_path / 'stand_in.json'}")
    assert "progress" in (tmp_path / "logs" / "stand_in.log").read_text()


def test_a_failed_run_keeps_the_previous_result(tmp_path):
    previous = '{"date": "2026-01-01"}'
    (tmp_path / "stand_in.json").write_text(previous)
    figure = stand_in(tmp_path, "json.dump({'half': True}, open(out, 'w'))\nraise SystemExit(3)\n")
    outcome = harness.run_figure(figure, "full", python=sys.executable, results_dir=tmp_path,
                                 logs_dir=tmp_path / "logs")
    assert outcome.ran and not outcome.ok and outcome.note.startswith("failed (exit 3)")
    assert (tmp_path / "stand_in.json").read_text() == previous


def test_a_failed_first_run_leaves_no_half_result(tmp_path):
    figure = stand_in(tmp_path, "json.dump({'half': True}, open(out, 'w'))\nraise SystemExit(1)\n")
    harness.run_figure(figure, "full", python=sys.executable, results_dir=tmp_path, logs_dir=tmp_path / "logs")
    assert not (tmp_path / "stand_in.json").exists()
