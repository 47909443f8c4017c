"""Prometheus metrics of one app: its own registry, so two apps in one process never share counters.

HTTP requests and latency are labelled by route template (``/v1/jobs/{job_id}``, never the id
itself; ``unmatched`` for any path no route serves) and by method, any method outside the standard
ones being ``other``: clients choose both, and every new label set is a new series that /metrics
keeps forever. Stage latencies, tokens and verdict labels come from each answer's timings, usage and
verdict.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"
# AnswerResult.timings names → the stage label
STAGES = {"retrieve": "retrieval", "generate": "generation", "verify": "verification"}


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("verirag_http_requests", "HTTP requests by route and status.",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("verirag_http_request_duration_seconds", "HTTP request latency by route and status.",
                                 ["method", "route", "status"], buckets=HTTP_BUCKETS, registry=r)
        self.in_flight = Gauge("verirag_http_requests_in_flight", "Requests being served.", registry=r)
        self.stages = Histogram("verirag_stage_duration_seconds", "Seconds per stage of a question.",
                                ["stage"], buckets=STAGE_BUCKETS, registry=r)
        self.tokens = Counter("verirag_model_tokens", "Model tokens by kind.", ["kind"], registry=r)
        self.verdicts = Counter("verirag_verdicts", "Verifier verdicts by label.", ["label"], registry=r)
        self.rate_limited = Counter("verirag_rate_limited", "Requests refused by the rate limit.", registry=r)
        self.auth_throttled = Counter("verirag_auth_throttled",
                                      "Requests refused because their address sent too many bad keys.", registry=r)
        self.jobs = Counter("verirag_ingest_jobs", "Ingest jobs finished, by final state.", ["state"], registry=r)
        self.files = Counter("verirag_ingest_files", "Uploaded files by outcome.", ["status"], registry=r)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method_label(method), route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_retrieval(self, seconds: float) -> None:
        self.stages.labels("retrieval").observe(seconds)

    def observe_answer(self, result) -> None:
        for name, seconds in result.timings.items():
            self.stages.labels(STAGES.get(name, name)).observe(seconds)
        usage = result.usage
        for kind, value in (
            ("prompt", usage.prompt_tokens), ("completion", usage.completion_tokens),
            ("reasoning", usage.reasoning_tokens), ("cache_hit", usage.cache_hit_tokens),
            ("cache_miss", usage.cache_miss_tokens),
        ):  # fmt: skip
            if value:
                self.tokens.labels(kind).inc(value)
        if result.verdict is not None:
            self.verdicts.labels(result.verdict.label).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def method_label(method: str) -> str:
    return method if method in HTTP_METHODS else OTHER_METHOD
