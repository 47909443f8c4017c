"""`verirag eval run` end to end on tiny data sets: the answers come from the DeepSeek wire-format
server on loopback, the verdicts from a scripted verifier (or, in one test, the real one), so every
number can be worked out by hand."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
import typer
from typer.testing import CliRunner

from eval.cli import register
from eval.runner import EvalRun, RunOptions
from rag.backends.base import ModelAuthError
from rag.profiles import estimate_cost, resolve_profile
from rag.prompts import ABSTAIN_PHRASE
from rag.settings import Settings
from rag.types import Usage
from rag.verify.verdict import Verdict
from tests.eval.fixtures import CACHE_HIT, COMPLETION_TOKENS, PROMPT_TOKENS, answer_reply, responder
from tests.eval.fixtures import write_beir, write_llamaindex, write_ragas_jsonl, write_verirag
from tests.support.deepseek_server import DeepSeekWireServer, Reply

LABELLED_VERDICTS = {
    # answer → (label, score): h1 true negative, h2 true positive, h3 false positive, h4 false negative.
    "287.5 rpm": ("supported", 0.9),
    "The reservoir holds 42 billion litres and was built in 1921 by Siemens.": ("unsupported", 0.1),
    "April": ("partially_supported", 0.6),
    "The control room has three operators.": ("supported", 0.85),
}


class ScriptedVerifier:
    """Verdicts the test controls: labelled answers from the table, RAG answers supported (abstentions
    abstained)."""

    def __init__(self):
        self.calls: list[tuple] = []

    def verify(self, question, passages, generation, *, require_citations=True):
        self.calls.append((question, generation.answer, require_citations, len(passages)))
        if generation.answer == ABSTAIN_PHRASE:
            return Verdict(label="abstained", score=1.0, claims=())
        label, score = LABELLED_VERDICTS.get(generation.answer, ("supported", 1.0))
        return Verdict(label=label, score=score, claims=())


@pytest.fixture
def server(monkeypatch):
    with DeepSeekWireServer(api_key="sk-test", responder=responder) as server:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
        yield server


def make_settings(tmp_path, server) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        default_model="deepseek-v4-flash",
        retrieval_top_k=2,
        verify_judge="off",  # the verifier's own LLM judge would add requests to the server
        llm_retry_base_s=0.001,
        llm_retry_cap_s=0.001,
        profiles={
            "deepseek-v4-flash": {"base_url": server.base_url},
            "judge": {"extends": "deepseek-v4-flash-nothink", "base_url": server.base_url},
        },
    )


def run(settings, embedder, verifier=None, **options):
    return EvalRun(settings, embedder, verifier).run(RunOptions(progress=False, **options))


def by_key(results) -> dict:
    return {item["key"]: item for item in results["items"]}


def test_verirag_run_metrics_by_hand(tmp_path, server, embedder):
    settings = make_settings(tmp_path, server)
    verifier = ScriptedVerifier()
    outcome = run(settings, embedder, verifier, dataset=write_verirag(tmp_path / "set"), out=tmp_path / "out")
    results, metrics = outcome.results, outcome.results["metrics"]

    assert outcome.evaluated == 8 and outcome.reused == 0 and outcome.failed == 0
    assert results["counts"] == {"items": 8, "errors": 0, "qa": 4, "verifier": 4, "unanswerable": 1}
    # Answers: q1 "287.5 rpm" exact; q2 "42 million cubic metres of water" (Levenshtein 9 / 32, ROUGE-L 0.8);
    # q3 "in April" vs "every spring in April" (Levenshtein 13 / 21, ROUGE-L 2·1·0.5/1.5); q4 unanswerable: skipped.
    assert metrics["answers.exact_match"] == pytest.approx(1 / 3, abs=1e-6)
    assert metrics["answers.non_llm_string_similarity"] == pytest.approx((1 + (1 - 9 / 32) + (1 - 13 / 21)) / 3, abs=1e-6)
    assert metrics["answers.rouge_score"] == pytest.approx((1 + 0.8 + 2 / 3) / 3, abs=1e-6)
    assert metrics["abstention.accuracy"] == 1.0 and metrics["abstention.false_rate"] == 0.0
    assert metrics["verdicts.abstained"] == 0.25 and metrics["verdicts.supported"] == 0.75
    # The verifier on the labelled answers: TP h2, FP h3, FN h4, TN h1; AUROC over 1 − score = 3/4.
    for field, value in {"precision": 0.5, "recall": 0.5, "f1": 0.5, "balanced_accuracy": 0.5, "auroc": 0.75}.items():
        assert metrics[f"verifier.{field}"] == value, field
    # Length: h2 (13 words) and h4 (6) flagged, h1 (2) and h3 (1) not → perfect.
    assert all(metrics[f"baseline_length.{f}"] == 1.0 for f in ("precision", "recall", "f1", "balanced_accuracy", "auroc"))
    # Overlap: only h2 has content tokens missing from its context (5 of 8): P 1, R 0.5; AUROC (1 + 1 + ½ + ½) / 4.
    assert metrics["baseline_overlap.recall"] == 0.5 and metrics["baseline_overlap.balanced_accuracy"] == 0.75
    assert metrics["baseline_overlap.f1"] == pytest.approx(2 / 3, abs=1e-6) and metrics["baseline_overlap.auroc"] == 0.75
    # Labelled answers reach the verifier without a question when there is none, and need no citations.
    labelled_calls = [call for call in verifier.calls if call[1] in LABELLED_VERDICTS]
    assert len(labelled_calls) == 4 and all(q is None and not cites and n == 1 for q, _, cites, n in labelled_calls)

    # Retrieval: each question's relevant document at its rank in the stored ranking.
    items = by_key(results)
    for key in ("qa:q1", "qa:q2", "qa:q3", "qa:q4"):
        item = items[key]
        rank = item["ranking"].index(next(iter(item["relevant"]))) + 1
        assert item["retrieval"]["mrr"] == pytest.approx(1 / rank)
        assert item["retrieval"]["recall@1"] == (1.0 if rank == 1 else 0.0)
    assert metrics["retrieval.mrr"] == pytest.approx(sum(items[k]["retrieval"]["mrr"] for k in items if k.startswith("qa")) / 4)
    assert set(items["qa:q1"]["retrieval"]) == {"ndcg@10", "recall@1", "recall@2", "mrr"}  # top_k = 2

    # Operations: the server's usage, priced with the profile's prices.
    usage = Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS, cache_hit_tokens=CACHE_HIT,
                  cache_miss_tokens=PROMPT_TOKENS - CACHE_HIT)
    cost = estimate_cost(resolve_profile("deepseek-v4-flash", settings), usage)
    assert cost > 0
    assert metrics["operations.cost_usd.total"] == pytest.approx(4 * cost, abs=1e-6)
    assert metrics["operations.prompt_tokens.mean"] == PROMPT_TOKENS
    assert metrics["operations.latency.generate.p95"] >= metrics["operations.latency.generate.p50"] > 0
    assert {"retrieve", "generate", "verify"} <= set(items["qa:q1"]["timings"])
    assert "verify" in items["verifier:h1"]["timings"]


class PlotFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.figures: dict[str, int] = {}
        self._open: str | None = None
        self.tables = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "figure" and "plot" in (attributes.get("class") or ""):
            self._open = attributes["id"]
            self.figures[self._open] = 0
        elif tag == "svg" and self._open:
            self.figures[self._open] += 1
        elif tag == "table":
            self.tables += 1

    def handle_endtag(self, tag):
        if tag == "figure":
            self._open = None


def test_reports_are_written_and_readable(tmp_path, server, embedder):
    outcome = run(make_settings(tmp_path, server), embedder, ScriptedVerifier(),
                  dataset=write_verirag(tmp_path / "set"), out=tmp_path / "out")
    folder = outcome.folder

    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert results["metrics"] == outcome.results["metrics"] and len(results["items"]) == 8
    assert results["run"]["versions"]["ragas"] == "0.4.3" and results["run"]["versions"]["ranx"]
    assert results["run"]["model"] == "deepseek-v4-flash" and results["run"]["top_k"] == 2
    assert results["run"]["dataset"]["format"] == "verirag"
    assert results["curves"]["recall_at_k"][-1][0] == 2

    markdown = (folder / "report.md").read_text(encoding="utf-8")
    for heading in ("## Retrieval", "## Answers (ragas)", "## Abstention", "## Verifier: detecting unsupported answers",
                    "## Verdict confusion matrix", "## Operations", "## Versions"):
        assert heading in markdown
    assert "| length baseline" in markdown

    parser = PlotFinder()
    parser.feed((folder / "report.html").read_text(encoding="utf-8"))
    assert parser.figures == {"plot-score-distributions": 1, "plot-recall-curve": 1, "plot-stage-latency": 1,
                              "plot-verdict-confusion": 1}
    assert parser.tables >= 6


def test_an_interrupted_run_resumes_without_redoing_finished_items(tmp_path, server, embedder):
    settings = make_settings(tmp_path, server)
    dataset = write_verirag(tmp_path / "set")
    answered = []

    def fails_after_two(body):
        if len(answered) == 2:
            return Reply(status=401)  # a key revoked mid-run: the whole run stops
        answered.append(body["messages"][-1]["content"])
        return answer_reply(body)

    server.responder = fails_after_two
    with pytest.raises(ModelAuthError):
        run(settings, embedder, ScriptedVerifier(), dataset=dataset, out=tmp_path / "out")
    kept = [json.loads(line) for line in (tmp_path / "out" / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [record["key"] for record in kept] == ["qa:q1", "qa:q2"]

    # A kill in the middle of a write leaves a torn line: it is dropped, not misread.
    with open(tmp_path / "out" / "items.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"key": "qa:q3", "part": "qa", "answ')
    server.responder = responder
    server.reset()
    verifier = ScriptedVerifier()
    outcome = run(settings, embedder, verifier, dataset=dataset, out=tmp_path / "out")

    assert outcome.reused == 2 and outcome.evaluated == 6
    assert [body["messages"][-1]["content"] for body in server.chat_bodies] == [
        "When are the penstock valves maintained?", "Who designed the Lindenau dam?"
    ]
    assert len(verifier.calls) == 2 + 4  # two answers and the four labelled ones
    assert by_key(outcome.results)["qa:q1"]["answer"] == kept[0]["answer"]
    assert outcome.results["counts"]["errors"] == 0 and len(outcome.results["items"]) == 8

    # Everything is done now: a third run evaluates nothing and writes the same metrics.
    again = run(settings, embedder, ScriptedVerifier(), dataset=dataset, out=tmp_path / "out")
    assert again.evaluated == 0 and again.reused == 8 and again.results["metrics"] == outcome.results["metrics"]


def test_an_item_whose_model_stays_down_is_recorded_and_retried_next_run(tmp_path, server, embedder):
    settings = make_settings(tmp_path, server)
    dataset = write_verirag(tmp_path / "set", halu=False)

    def q2_down(body):
        if body["messages"][-1]["content"].startswith("How much water"):
            return Reply(status=503)
        return answer_reply(body)

    server.responder = q2_down
    first = run(settings, embedder, ScriptedVerifier(), dataset=dataset, out=tmp_path / "out")
    assert first.failed == 1 and first.results["counts"]["errors"] == 1
    failed = by_key(first.results)["qa:q2"]
    assert failed["error"].startswith("ModelUnavailableError") and "metrics" not in failed
    assert first.results["metrics"]["answers.exact_match"] == 0.5  # q1 and q3 only

    server.responder = responder
    second = run(settings, embedder, ScriptedVerifier(), dataset=dataset, out=tmp_path / "out")
    assert second.evaluated == 1 and second.reused == 3 and second.results["counts"]["errors"] == 0


def test_judge_profile_adds_ragas_llm_metrics(tmp_path, server, embedder):
    settings = make_settings(tmp_path, server)
    outcome = run(settings, embedder, ScriptedVerifier(), dataset=write_verirag(tmp_path / "set", halu=False),
                  out=tmp_path / "out", judge="judge", limit=2)
    metrics = outcome.results["metrics"]

    # The judge's scripted replies: half the statements supported, the generated question is the
    # asked one, every context useful, two of three sentences attributed.
    assert metrics["answers.faithfulness"] == 0.5
    assert metrics["answers.answer_relevancy"] == pytest.approx(1.0, abs=1e-5)
    assert metrics["answers.llm_context_precision_with_reference"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["answers.context_recall"] == pytest.approx(2 / 3, abs=1e-6)
    judge_bodies = [body for body in server.chat_bodies if body["messages"][0]["role"] == "user"]
    assert judge_bodies and all(body["thinking"] == {"type": "disabled"} for body in judge_bodies)
    assert outcome.results["run"]["settings"]["verify_judge_model"] == "judge"


def test_the_real_verifier_gives_verdicts_of_the_documented_shape(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "data", verify_judge="off")
    outcome = run(settings, embedder, dataset=write_verirag(tmp_path / "set", qa=False, corpus=False), out=tmp_path / "out")

    labelled = [item for item in outcome.results["items"] if item["part"] == "verifier"]
    assert len(labelled) == 4
    for item in labelled:
        assert item["verdict"]["label"] in ("supported", "partially_supported", "unsupported", "abstained")
        assert 0.0 <= item["verdict"]["score"] <= 1.0
    for field in ("precision", "recall", "f1", "balanced_accuracy", "auroc"):
        assert 0.0 <= outcome.results["metrics"][f"verifier.{field}"] <= 1.0


def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: Typer keeps "eval" as a sub-command
    return app


def test_beir_runs_retrieval_only_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    dataset = write_beir(tmp_path / "beir")
    result = CliRunner().invoke(cli_app(), ["eval", "run", "--dataset", str(dataset), "--out", str(tmp_path / "out")])

    assert result.exit_code == 0, result.output
    assert "retrieval.ndcg@10" in result.output and "report.html" in result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert results["run"]["parts"] == ["retrieval"] and results["run"]["top_k"] == 100
    assert results["counts"] == {"items": 3, "errors": 0, "retrieval": 3}
    assert {"retrieval.recall@100", "retrieval.mrr"} <= set(results["metrics"])
    assert not any(name.startswith(("operations.cost", "verdicts", "answers.exact")) for name in results["metrics"])
    collection = results["run"]["collection"]
    assert collection.startswith("eval-beir-") and (tmp_path / "data" / "collections" / collection).is_dir()

    # The same command again: the collection and the items are reused.
    again = CliRunner().invoke(cli_app(), ["eval", "run", "--dataset", str(dataset), "--out", str(tmp_path / "out")])
    assert again.exit_code == 0 and "evaluated 0 items, reused 3" in again.output


@pytest.mark.parametrize("writer", [write_ragas_jsonl, write_llamaindex], ids=["ragas", "llamaindex"])
def test_ragas_and_llamaindex_sets_run_over_their_reference_contexts(tmp_path, server, embedder, writer):
    outcome = run(make_settings(tmp_path, server), embedder, ScriptedVerifier(), dataset=writer(tmp_path / "set"),
                  out=tmp_path / "out")
    metrics = outcome.results["metrics"]
    assert outcome.results["counts"]["qa"] == 3
    assert metrics["answers.exact_match"] == pytest.approx(1 / 3, abs=1e-6)
    assert metrics["answers.non_llm_context_recall"] == 1.0  # each question's context is in its top 2
    assert "retrieval.ndcg@10" in metrics


def test_cli_reports_usage_errors_and_failed_items(tmp_path, server, monkeypatch):
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VERIRAG_VERIFY_JUDGE", "off")
    monkeypatch.setenv("VERIRAG_LLM_RETRY_BASE_S", "0.001")
    monkeypatch.setenv("VERIRAG_LLM_RETRY_CAP_S", "0.001")
    monkeypatch.setenv("VERIRAG_PROFILES", json.dumps({"deepseek-v4-flash": {"base_url": server.base_url}}))
    dataset = write_verirag(tmp_path / "set", halu=False)

    unknown = CliRunner().invoke(cli_app(), ["eval", "run", "-d", str(dataset), "-m", "no-such-model"])
    assert unknown.exit_code == 1 and "unknown model profile 'no-such-model'" in unknown.output
    missing = CliRunner().invoke(cli_app(), ["eval", "run", "-d", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "no such file or folder" in missing.output

    server.responder = lambda body: Reply(status=503) if "penstock" in body["messages"][-1]["content"] else answer_reply(body)
    out = tmp_path / "out"
    partial = CliRunner().invoke(cli_app(), ["eval", "run", "-d", str(dataset), "-m", "deepseek-v4-flash", "-o", str(out)])
    assert partial.exit_code == 3, partial.output
    assert "1 failed" in partial.output and "errors 1" in partial.output

    # Another configuration into the same folder is refused; --fresh starts over.
    other = CliRunner().invoke(cli_app(), ["eval", "run", "-d", str(dataset), "-m", "deepseek-v4-flash", "-o", str(out),
                                           "--top-k", "3"])
    assert other.exit_code == 1 and "another configuration" in other.output
    server.responder = responder
    fresh = CliRunner().invoke(cli_app(), ["eval", "run", "-d", str(dataset), "-m", "deepseek-v4-flash", "-o", str(out),
                                           "--top-k", "3", "--fresh"])
    assert fresh.exit_code == 0, fresh.output
    assert "evaluated 4 items, reused 0" in fresh.output
