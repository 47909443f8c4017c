"""The benchmark figures: which script makes each, with which arguments, where its result lives, how
its section and its summary-table headline are rendered. The harness and the report both read this."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench import headlines

PRESETS = ("quick", "full")


@dataclass(frozen=True)
class Companion:
    """Another saved result a figure reads (its headline keyword and its section), made by a script the
    harness does not run."""

    keyword: str
    result: str  # bench/results/<result>.json
    render: str  # "module:function"


@dataclass(frozen=True)
class Figure:
    number: int
    key: str  # names it in --only/--skip and bench/notes/<key>.md
    title: str
    script: str
    result: str  # bench/results/<result>.json, .md and logs/<result>.log
    presets: dict[str, tuple[str, ...]]
    render: str  # "module:function" turning the saved result into its markdown section
    headline: Callable[..., headlines.Headline]
    # Arguments pointing the script at the shared data sets, "{datasets}" standing for their folder,
    # and the files it cannot run without (relative to that folder).
    dataset_args: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    writes_markdown: bool = True  # the script takes --markdown
    explicit_only: bool = False  # too long to run unless asked by name
    companions: tuple[Companion, ...] = field(default_factory=tuple)

    @property
    def goal(self) -> str:
        return headlines.GOALS[self.key]


QUALITY_RENDER = "bench.retrieval_quality:render_markdown"

FIGURES = (
    Figure(
        1, "ingest", "Ingest throughput", "bench/ingest_throughput.py", "scifact",
        presets={"quick": ("--limit", "500"), "full": ()},
        render="bench.ingest_throughput:render_markdown", headline=headlines.ingest,
        dataset_args=("--corpus", "{datasets}/scifact/corpus.jsonl"), needs=("scifact/corpus.jsonl",),
        # The nDCG@10 half of the goal: retrieval_quality.py with the default backend and with torch.
        companions=(Companion("quality", "scifact-quality", QUALITY_RENDER),
                    Companion("quality_torch", "scifact-quality-torch", QUALITY_RENDER)),
    ),
    Figure(
        2, "latency", "Retrieval latency", "bench/retrieval_latency.py", "latency",
        presets={"quick": ("--sizes", "10000,100000", "--queries", "30", "--local-queries", "10",
                           "--torch-threads", "1"),
                 "full": ("--torch-threads", "1")},
        render="bench.retrieval_latency:render_markdown", headline=headlines.latency,
        dataset_args=("--dataset", "{datasets}/scifact"),
        needs=("scifact/queries.jsonl", "scifact/corpus.jsonl"),
    ),
    Figure(
        3, "verifier", "Verifier quality and latency", "bench/verifier_quality.py", "verifier-latency",
        presets={"quick": ("--limit", "300", "--llm-sample", "0", "--latency-items", "300"), "full": ()},
        render="bench.verifier_quality:render", headline=headlines.verifier,
        dataset_args=("--datasets-dir", "{datasets}"),
        needs=("scifact-claims-dev/halu.jsonl", "halueval-qa/halu.jsonl"),
    ),
    Figure(
        4, "api", "API throughput", "bench/api_throughput.py", "api_throughput",
        presets={"quick": ("--requests", "400"), "full": ()},
        render="bench.api_throughput:render_markdown", headline=headlines.api,
    ),
    Figure(
        5, "prefix", "Prompt-prefix reuse", "bench/prefix_reuse.py", "prefix_reuse",
        presets={"quick": (), "full": ()},
        render="bench.prefix_reuse:render_markdown", headline=headlines.prefix, writes_markdown=False,
    ),
    Figure(
        6, "setup", "Fresh set-up", "bench/fresh_setup.py", "fresh_setup",
        presets={"quick": (), "full": ()},
        render="bench.fresh_setup:render_markdown", headline=headlines.setup, explicit_only=True,
    ),
    Figure(
        7, "backends", "Embedding backends", "bench/embed_backends.py", "embed-backends",
        presets={"quick": ("--texts", "384", "--rounds", "3"), "full": ("--texts", "2000", "--rounds", "3")},
        render="bench.embed_backends:render_markdown", headline=headlines.backends, writes_markdown=False,
        dataset_args=("--corpus", "{datasets}/scifact/corpus.jsonl"), needs=("scifact/corpus.jsonl",),
    ),
    Figure(
        8, "first_answer", "First answer", "bench/first_answer.py", "first_answer",
        presets={"quick": ("--rounds", "1", "--isolation-rounds", "4", "--thread-rounds", "1"),
                 "full": ("--rounds", "3", "--isolation-rounds", "8", "--thread-rounds", "4")},
        render="bench.first_answer:render_markdown", headline=headlines.first_answer,
    ),
    Figure(
        9, "ray_ingest", "Ray ingest engine", "bench/ray_ingest.py", "ray-ingest",
        presets={"quick": ("--limit", "1000"), "full": ()},
        render="bench.ray_ingest:render_markdown", headline=headlines.ray_ingest,
        dataset_args=("--corpus", "{datasets}/scifact/corpus.jsonl"), needs=("scifact/corpus.jsonl",),
    ),
)
