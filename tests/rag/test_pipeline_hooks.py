"""Hooks into a question's stages (rag.pipeline_hooks): the order they see, the passages they may
rewrite, an error raised through them, and the OpenTelemetry spans (rag.tracing)."""

from __future__ import annotations

import contextlib

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rag.pipeline import AnswerRequest, pipeline_for
from rag.pipeline_hooks import PipelineHook
from rag.settings import Settings
from rag.store import open_store
from rag.tracing import OpenTelemetryHook
from tests.rag.test_pipeline import QUESTION
from tests.rag.test_pipeline_policy import right_reply, server, wrong_reply  # noqa: F401 - server: a fixture


class StageLog(PipelineHook):
    def __init__(self, fail_at: str | None = None) -> None:
        self.events: list[str] = []
        self.fail_at = fail_at

    @contextlib.contextmanager
    def stage(self, name):
        self.events.append(f"start {name}")
        if name == self.fail_at:
            raise RuntimeError(f"refused {name}")
        try:
            yield
        except BaseException as error:
            self.events.append(f"error {name}: {type(error).__name__}")
            raise
        self.events.append(f"end {name}")


class FirstPassageOnly(PipelineHook):
    def retrieved(self, passages):
        return passages[:1]


def run(server, data_dir, hooks, *replies, policy="flag", stream=False):
    settings = Settings(data_dir=data_dir, default_model="deepseek-v4-flash", verify_judge="off",
                        profiles={"deepseek-v4-flash": {"base_url": server.base_url}})
    server.script(*replies)
    with open_store(settings, "demo") as store:
        pipeline = pipeline_for(settings, store, hooks=hooks)
        request = AnswerRequest(QUESTION, verify=policy)
        return list(pipeline.stream(request)) if stream else pipeline.answer(request)


def test_hooks_see_every_stage_in_order_a_retry_included(server, data_dir):
    log = StageLog()
    run(server, data_dir, [log], wrong_reply, right_reply, policy="retry")
    stages = ["retrieval", "generation", "verification", "generation", "verification"]
    assert log.events == [event for name in stages for event in (f"start {name}", f"end {name}")]


def test_a_stream_runs_its_generation_inside_the_stage(server, data_dir):
    log = StageLog()
    events = run(server, data_dir, [log], right_reply, stream=True)
    assert [kind for kind, _ in events][-2:] == ["verification", "done"]
    assert log.events == ["start retrieval", "end retrieval", "start generation", "end generation",
                          "start verification", "end verification"]


def test_a_hook_may_narrow_the_passages_the_question_uses(server, data_dir):
    result = run(server, data_dir, [FirstPassageOnly()], right_reply)
    assert [p.label for p in result.passages] == ["S1"]
    sources = server.chat_bodies[0]["messages"][0]["content"].partition("\nSources:")[2]
    assert "\n[S1] " in sources and "\n[S2] " not in sources


def test_a_hook_that_refuses_a_stage_stops_the_question_there(server, data_dir):
    log = StageLog(fail_at="generation")
    with pytest.raises(RuntimeError, match="refused generation"):
        run(server, data_dir, [log], right_reply)
    assert server.chat_bodies == []  # the model was never asked
    assert log.events == ["start retrieval", "end retrieval", "start generation"]


def test_hooks_are_left_in_reverse_order_when_a_stage_fails(server, data_dir):
    outer, inner = StageLog(), StageLog(fail_at="verification")
    with pytest.raises(RuntimeError, match="refused verification"):
        run(server, data_dir, [outer, inner], right_reply)
    assert outer.events[-2:] == ["start verification", "error verification: RuntimeError"]


def test_each_stage_is_an_opentelemetry_span_under_the_callers_span(server, data_dir, monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer", provider.get_tracer)  # the global provider can be set only once
    with provider.get_tracer("test").start_as_current_span("request") as request_span:
        run(server, data_dir, [], right_reply)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"request", "verirag.retrieval", "verirag.generation", "verirag.verification"}
    for name in ("retrieval", "generation", "verification"):
        span = spans[f"verirag.{name}"]
        assert span.parent.span_id == request_span.get_span_context().span_id
        assert span.attributes["verirag.stage"] == name
    assert spans["verirag.retrieval"].attributes["verirag.passages"] >= 1


def test_a_pipeline_traces_by_default_when_opentelemetry_is_installed(server, data_dir):
    settings = Settings(data_dir=data_dir)
    with open_store(settings, "demo") as store:
        hooks = pipeline_for(settings, store).hooks
    assert [type(hook) for hook in hooks] == [OpenTelemetryHook]
