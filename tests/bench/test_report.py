"""The benchmark page: headlines computed from small synthetic results, and the page around them."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bench import headlines, report
from bench.figures import FIGURES

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
MACHINE = {"nproc": 2, "cpu_model": "Test CPU", "torch": "2.0", "torch_threads": 1,
           "load_average_at_start": [0.5, 0.6, 0.7]}


def ingest_result(a_docs: float, c_docs: float, ratios: bool = True) -> dict:
    result = {
        "date": "2026-11-30T10:00:00+00:00", "records": 1000, "machine": MACHINE,
        "results": {"A": {"docs_per_s": a_docs, "chunks_per_s": 2 * a_docs, "backend": "onnx"},
                    "A:torch": {"docs_per_s": a_docs / 2, "chunks_per_s": a_docs},
                    "C": {"docs_per_s": c_docs, "chunks_per_s": c_docs}},
        "unknown_new_field": {"anything": [1, 2]},
    }
    if ratios:
        result["ratios"] = {"A_over_C_docs_per_s": a_docs / c_docs}
    return result


def quality(ndcg: float) -> dict:
    return {"results": {"hybrid-rrf": {"ndcg@10": ndcg}}}


def latency_result(p95: float, local_p95: float, size: int = 100_000) -> dict:
    row = {"embedded": {"total": {"p95_ms": p95}, "store": {"p95_ms": p95 / 3}},
           "local": {"total": {"p95_ms": local_p95}}}
    return {"date": "2026-11-30", "machine": MACHINE, "results": {"10000": row, str(size): row}}


def verifier_result(*p95s: float) -> dict:
    return {"date": "2026-11-30", "machine": MACHINE,
            "sets": {f"set{i}": {"latency_ms": {"p50": p / 2, "p95": p}} for i, p in enumerate(p95s)}}


def api_result(rps: float, errors: int) -> dict:
    return {"date": "2026-11-30", "machine": MACHINE, "http": {"c8": {"requests_per_s": rps, "errors": errors}},
            "in_process": {"batching_c8": {"requests_per_s": 2 * rps}}}


def prefix_result(*session: float) -> dict:
    return {"date": "2026-11-30", "machine": MACHINE, "passages_from": "retriever",
            "profiles": [{"name": f"p{i}", "means": {"session": s, "stable": 0.1}} for i, s in enumerate(session)]}


def setup_result(demo: tuple[float, int], test: tuple[float, int]) -> dict:
    def outcome(target, seconds, code):
        return {"command": f"make {target}", "seconds": seconds, "exit_code": code, "timed_out": False,
                "goal_seconds": headlines.SETUP_SECONDS[target]}

    commands = {"demo": outcome("demo", *demo), "test": outcome("test", *test)}
    commands["test"]["pytest"] = {"line": "== 10 passed in 1s ==", "passed": 10}
    return {"date": "2026-11-30", "commit": "abc", "machine": MACHINE, "commands": commands}


# -- headlines -------------------------------------------------------------------------------------
def test_ingest_met_needs_both_speed_and_quality():
    fast = ingest_result(a_docs=30.0, c_docs=10.0)
    assert headlines.ingest(fast, quality(0.7150), quality(0.7171)).met is True  # 0.3 % apart
    assert headlines.ingest(fast, quality(0.70), quality(0.7171)).met is False  # 2.4 % apart
    undecided = headlines.ingest(fast)  # throughput met, nDCG comparison absent
    assert undecided.met is None and "torch comparison not run" in undecided.measured
    slow = headlines.ingest(ingest_result(a_docs=5.8, c_docs=14.5))
    assert slow.met is False and "0.40×" in slow.baseline and "(onnx)" in slow.measured


def test_ingest_ratio_computed_from_configurations_without_ratios():
    line = headlines.ingest(ingest_result(a_docs=25.0, c_docs=10.0, ratios=False), quality(0.7), quality(0.7))
    assert "2.50×" in line.baseline and line.met is True


@pytest.mark.parametrize(("p95", "local", "met"), [(20.0, 400.0, True), (44.7, 12_655.0, False),
                                                   (20.0, 150.0, False)])
def test_latency_goal(p95, local, met):
    assert headlines.latency(latency_result(p95, local)).met is met


def test_latency_below_goal_size_is_undecided():
    line = headlines.latency(latency_result(5.0, 500.0, size=20_000))
    assert line.met is None and "20,000 points" in line.measured


def test_verifier_judged_on_every_sets_p95():
    assert headlines.verifier(verifier_result(40.0, 49.9)).met is True
    assert headlines.verifier(verifier_result(40.0, 184.1)).met is False
    assert headlines.verifier({"sets": {}}).met is None


def test_api_needs_rate_and_no_errors():
    assert headlines.api(api_result(120.0, 0)).met is True
    assert headlines.api(api_result(120.0, 3)).met is False
    assert headlines.api(api_result(57.4, 0)).met is False
    assert "0.50×" in headlines.api(api_result(57.4, 0)).baseline


def test_prefix_judged_on_the_worst_profile():
    assert headlines.prefix(prefix_result(0.95, 0.91)).met is True
    assert headlines.prefix(prefix_result(0.95, 0.81)).met is False


def test_prefix_reads_the_conversation_layout_of_every_session():
    def profile(chat: float) -> dict:
        return {"name": "p", "means": {"session": 0.99, "stable": 0.1}, "weighted": {"chat": chat, "stable": 0.1}}

    result = {"date": "2026-12-03", "machine": MACHINE, "passages_from": "retriever",
              "sets": [{"turns": [{}] * 5, "profiles": [profile(0.93)]},
                       {"turns": [{}] * 10, "profiles": [profile(0.88)]}]}
    headline = headlines.prefix(result)
    assert headline.met is False and "88.0 % (p, 10 turns)" in headline.measured
    result["sets"][1]["profiles"] = [profile(0.91)]
    assert headlines.prefix(result).met is True


def test_setup_fails_on_exit_code_or_time_and_waits_for_both():
    assert headlines.setup(setup_result((600, 0), (1100, 0))).met is True
    assert headlines.setup(setup_result((600, 0), (1300, 0))).met is False
    assert headlines.setup(setup_result((600, 2), (1100, 0))).met is False
    only_demo = setup_result((600, 0), (1100, 0))
    del only_demo["commands"]["test"]
    assert headlines.setup(only_demo).met is None


def test_headline_of_a_result_missing_its_fields_is_undecided_not_an_error():
    for figure in FIGURES:
        assert figure.headline({"date": "2026-11-30"}).met is not True


# -- the page --------------------------------------------------------------------------------------
@pytest.fixture
def page_files(tmp_path):
    results, notes = tmp_path / "results", tmp_path / "notes"
    results.mkdir()
    notes.mkdir()
    saved = {"scifact": ingest_result(5.8, 14.5), "api_throughput": api_result(120.0, 0)}
    for name, result in saved.items():
        (results / f"{name}.json").write_text(json.dumps(result), encoding="utf-8")
    (notes / "api.md").write_text("Reading it: the **API** note.\n", encoding="utf-8")
    changes = tmp_path / "changes.md"
    changes.write_text("## Changes: before / after\n\n| a | b |\n|---|---|\n| 1 ms | 2 ms |\n", encoding="utf-8")
    return results, notes, changes


def summary_rows(page: str) -> dict[str, str]:
    rows = {}
    for line in page.split("## Summary", 1)[1].split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 2 and cells[1].isdigit():
            rows[cells[2]] = line
    return rows


def test_summary_rows_compute_met_and_mark_missing_figures(page_files):
    results, notes, changes = page_files
    page = report.render_report(results, notes, changes, now=NOW)
    rows = summary_rows(page)
    assert set(rows) == {f.title for f in FIGURES}
    assert "| ✗ |" in rows["Ingest throughput"]  # 0.40× against a 2× goal
    assert "| ✓ |" in rows["API throughput"]
    for title in ("Retrieval latency", "Verifier quality and latency", "Prompt-prefix reuse", "Fresh set-up"):
        assert "not run yet" in rows[title]
    assert "2026-11-30" in rows["API throughput"]
    assert "Generated 2026-12-01T12:00:00+00:00" in page
    assert "| 1. Ingest throughput | 2 | Test CPU | 2.0 (1) | 0.50, 0.60, 0.70 |" in page


def test_changes_copied_verbatim_at_the_end_and_notes_under_their_figure(page_files):
    results, notes, changes = page_files
    page = report.render_report(results, notes, changes, now=NOW)
    assert page.endswith("\n" + changes.read_text(encoding="utf-8"))
    api_section = page.split("## 4. API throughput", 1)[1].split("\n## 5.", 1)[0]
    assert "Reading it: the **API** note." in api_section


def test_harness_statuses_show_in_the_summary(page_files):
    results, notes, changes = page_files
    page = report.render_report(results, notes, changes, now=NOW,
                                statuses={"latency": "not run: dataset missing (/x/scifact)",
                                          "api": "failed (exit 1), see bench/results/logs/api_throughput.log"})
    rows = summary_rows(page)
    assert "not run: dataset missing" in rows["Retrieval latency"]
    assert "this run: failed (exit 1)" in rows["API throughput"]  # the previous result still shows


def test_harness_metadata_gives_the_reproduce_command(page_files):
    results, notes, changes = page_files
    result = api_result(120.0, 0)
    result["harness"] = {"preset": "quick", "command": ".venv/bin/python bench/api_throughput.py --requests 400"}
    (results / "api_throughput.json").write_text(json.dumps(result), encoding="utf-8")
    page = report.render_report(results, notes, changes, now=NOW)
    assert '`make bench BENCH_ARGS="--only 4 --preset quick"`' in summary_rows(page)["API throughput"]
    assert "2026-11-30 (quick)" in summary_rows(page)["API throughput"]
    assert "```sh\n.venv/bin/python bench/api_throughput.py --requests 400\n```" in page


def test_a_result_its_renderer_cannot_read_costs_only_its_section(page_files):
    results, notes, changes = page_files
    (results / "latency.json").write_text(json.dumps({"results": {}}), encoding="utf-8")
    page = report.render_report(results, notes, changes, now=NOW)
    assert "_Could not render this result with `bench.retrieval_latency:render_markdown`" in page
    assert "## 6. Fresh set-up" in page


def test_missing_changes_file_is_said_not_raised(page_files):
    results, notes, changes = page_files
    changes.unlink()
    assert "_`changes.md` is missing._" in report.render_report(results, notes, changes, now=NOW)


def test_nest_headings_shifts_below_the_figure_heading_and_leaves_code_alone():
    text = "# Top\n\ntext\n\n## Sub\n\n```sh\n# a shell comment\n```\n"
    assert report.nest_headings(text, 3) == "### Top\n\ntext\n\n#### Sub\n\n```sh\n# a shell comment\n```"
