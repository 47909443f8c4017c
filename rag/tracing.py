"""OpenTelemetry spans for a question's stages, when the OpenTelemetry API is installed.

Install the ``otel`` extra (``pip install 'verirag[otel]'``) and configure an exporter as OpenTelemetry
documents (the SDK and, e.g., ``opentelemetry-exporter-otlp`` with ``OTEL_EXPORTER_OTLP_ENDPOINT``): each
question then gives spans ``verirag.retrieval``, ``verirag.generation`` and ``verirag.verification``
(a retry adds a second generation and verification), nested in whatever span the caller has open — a
FastAPI instrumentation's request span, say. Without an SDK the API's tracer is a no-op (≈ 1 µs a span);
without the API installed there is no hook at all.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator

from rag.pipeline_hooks import PipelineHook

__all__ = ["TRACER_NAME", "OpenTelemetryHook", "tracing_hooks"]

TRACER_NAME = "verirag"


class OpenTelemetryHook(PipelineHook):
    """One span per stage, named ``verirag.<stage>``; an error in the stage is recorded on its span."""

    def __init__(self) -> None:
        from opentelemetry import trace

        self._trace = trace

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        # The tracer is looked up per span, so a provider configured after start-up is used.
        tracer = self._trace.get_tracer(TRACER_NAME)
        with tracer.start_as_current_span(f"verirag.{name}", attributes={"verirag.stage": name}):
            yield

    def retrieved(self, passages):
        span = self._trace.get_current_span()
        if span.is_recording():
            span.set_attribute("verirag.passages", len(passages))
        return passages


def tracing_hooks() -> list[PipelineHook]:
    """``[OpenTelemetryHook()]`` where the OpenTelemetry API is installed, else none."""
    try:
        if importlib.util.find_spec("opentelemetry.trace") is None:
            return []
    except ModuleNotFoundError:  # the opentelemetry namespace itself is missing
        return []
    return [OpenTelemetryHook()]
