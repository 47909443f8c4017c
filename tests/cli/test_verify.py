"""`verirag verify`: options or the /v1/verify body as JSON in, ask's table or the verdict JSON out, and exit
codes a script can branch on; and the input rules it shares with the API (``rag.verify.given.verify_input``)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from cli import verify as verify_cli
from rag.verify.given import InputError, verify_input

from tests.support.verify_cases import CONTRADICTED, LOG, MISCITED_BY_MODEL, QUESTION, RUNBOOK, SUPPORTED


@pytest.fixture
def run(monkeypatch, tmp_path, embedder):
    """``run(*args)`` → the CliRunner result of ``verirag verify ARGS`` (the session's embedder, no LLM judge)."""
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VERIRAG_VERIFY_JUDGE", "off")
    monkeypatch.setattr("rag.embedding.embedder_for", lambda settings: embedder)
    app = typer.Typer()
    verify_cli.register(app)
    app.command("noop")(lambda: None)  # two commands: Typer keeps "verify" as a sub-command

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(app, ["verify", *args], input=input)

    return invoke


@MISCITED_BY_MODEL
def test_a_supported_answer_prints_the_table_and_exits_0(run):
    result = run("--question", QUESTION, "--answer", SUPPORTED, "--passage", RUNBOOK, "--passage", LOG,
                 "--reasoning", "S1 lists the trip speeds: Unit 3 trips at 287.5 rpm.")

    assert result.exit_code == 0, result.output
    assert "Verification:" in result.output and "Verdict: supported" in result.output
    assert "trace: " in result.output and "S1" in result.output and "verified in" in result.output


def test_a_changed_number_exits_with_a_code_of_its_own(run):
    result = run("--question", QUESTION, "--answer", CONTRADICTED, "--passage", RUNBOOK)

    assert result.exit_code in (verify_cli.EXIT_PARTIAL, verify_cli.EXIT_UNSUPPORTED), result.output
    assert "contradicted" in result.output and "! " in result.output


def test_json_is_the_body_the_api_returns(run):
    result = run("--answer", CONTRADICTED, "--passage", RUNBOOK, "--json", "--policy", "accept")

    data = json.loads(result.output)
    assert set(data) == {"verdict", "timings"} and "verify" in data["timings"]
    verdict = data["verdict"]
    assert {"label", "score", "policy_action", "warnings", "issues", "claims"} <= set(verdict)
    assert verdict["policy_action"] == "accept" and verdict["warnings"] == []
    [claim] = [c for c in verdict["claims"] if c["origin"] == "answer"]
    assert claim["status"] == "contradicted" and claim["evidence"]["source_label"] == "S1"
    assert result.exit_code in (verify_cli.EXIT_PARTIAL, verify_cli.EXIT_UNSUPPORTED)


def test_files_and_stdin_are_read_with_at(run, tmp_path):
    answer = "The overspeed trip test WO-2458 ran on 2024-07-16 [S1]. Unit 3 trips at 287.5 rpm [S2]."
    (tmp_path / "answer.txt").write_text(answer, encoding="utf-8")
    (tmp_path / "runbook.md").write_text(RUNBOOK, encoding="utf-8")

    result = run("--answer", f"@{tmp_path / 'answer.txt'}", "--passage", "@-",
                 "--passage", f"@{tmp_path / 'runbook.md'}", "--json", input=LOG)

    assert result.exit_code == 0, result.output
    claims = [c for c in json.loads(result.output)["verdict"]["claims"] if c["origin"] == "answer"]
    assert [c["status"] for c in claims] == ["supported", "supported"]
    assert [c["evidence"]["source_label"] for c in claims] == ["S1", "S2"]  # stdin is S1, the file S2


@MISCITED_BY_MODEL
def test_input_takes_the_http_body(run, tmp_path):
    path = tmp_path / "body.json"
    path.write_text(json.dumps({
        "question": QUESTION,
        "passages": [{"text": LOG, "label": "S2", "doc_id": "maintenance_log.csv"},
                     {"text": RUNBOOK, "label": "S1", "doc_id": "oncall_runbook.md", "page": 2}],
        "answer": SUPPORTED, "require_citations": True, "policy": "flag",
    }), encoding="utf-8")

    result = run("--input", str(path), "--json")

    assert result.exit_code == 0, result.output
    [claim] = [c for c in json.loads(result.output)["verdict"]["claims"] if c["origin"] == "answer"]
    assert claim["evidence"]["doc_id"] == "oncall_runbook.md" and claim["evidence"]["page"] == 2


def test_bad_input_is_an_error_naming_the_field(run, tmp_path):
    bad_label = tmp_path / "bad.json"
    bad_label.write_text(json.dumps({"passages": [{"text": RUNBOOK, "label": "X1"}], "answer": SUPPORTED}))
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")

    labelled = run("--input", str(bad_label))
    broken = run("--input", str(not_json))
    blank = run("--answer", SUPPORTED, "--passage", RUNBOOK, "--passage", " ")
    missing_file = run("--answer", "@/nonexistent/answer.txt", "--passage", RUNBOOK)

    assert labelled.exit_code == 1 and "passages.0.label" in labelled.output
    assert broken.exit_code == 1 and "not valid JSON" in broken.output
    assert blank.exit_code == 1 and "--passage 2" in blank.output and "empty" in blank.output
    assert missing_file.exit_code == 1 and "cannot read" in missing_file.output


def test_bad_usage_exits_2(run, tmp_path):
    assert run("--passage", RUNBOOK).exit_code == 2  # no answer
    assert run("--answer", SUPPORTED).exit_code == 2  # no passage
    assert run("--input", str(tmp_path / "x.json"), "--answer", SUPPORTED).exit_code == 2
    assert run("--answer", SUPPORTED, "--passage", RUNBOOK, "--policy", "retry").exit_code == 2


def test_verify_is_a_verirag_command(monkeypatch):
    import cli.app

    app = typer.Typer()
    monkeypatch.setattr(cli.app, "app", app)
    cli.app._register_plugins()
    assert "verify" in {command.name for command in app.registered_commands}


# -- the input rules (shared with POST /v1/verify) -------------------------------------------------------


def test_passages_default_to_s1_to_sn_and_keep_their_fields():
    given = verify_input({"passages": [{"text": "a b"}, {"text": "c", "label": "S9", "doc_id": "d.md", "page": 4,
                                                         "source": "x/d.md", "title": "D"}], "answer": "a [S1]"})
    first, second = given.passages
    assert (first.label, first.doc_id, first.pages, first.char_end) == ("S1", "", (), 3)
    assert (second.label, second.doc_id, second.pages, second.source, second.title) == ("S9", "d.md", (4,), "x/d.md", "D")
    assert given.question is None and given.reasoning == "" and given.policy is None and given.require_citations


@pytest.mark.parametrize("data,param", [
    ([], "body"),
    ({"passages": [{"text": "a"}]}, "answer"),
    ({"passages": [{"text": "a"}], "answer": 3}, "answer"),
    ({"answer": "a"}, "passages"),
    ({"passages": "a", "answer": "a"}, "passages"),
    ({"passages": [], "answer": "a"}, "passages"),
    ({"passages": ["a"], "answer": "a"}, "passages.0"),
    ({"passages": [{"text": "a"}, {"text": "b", "label": "S1"}], "answer": "a"}, "passages.1.label"),
    ({"passages": [{"text": "a", "label": "S01"}], "answer": "a"}, "passages.0.label"),
    ({"passages": [{"text": "a", "page": True}], "answer": "a"}, "passages.0.page"),
    ({"passages": [{"text": "a", "doc_id": 5}], "answer": "a"}, "passages.0.doc_id"),
    ({"passages": [{"text": "a"}], "answer": "a", "require_citations": "yes"}, "require_citations"),
    ({"passages": [{"text": "a"}], "answer": "a", "policy": "abstain"}, "policy"),
    ({"passages": [{"text": "a"}], "answer": "a", "top_k": 3}, "top_k"),
])  # fmt: skip
def test_input_rules_name_the_field(data, param):
    with pytest.raises(InputError) as refused:
        verify_input(data)
    assert refused.value.param == param
