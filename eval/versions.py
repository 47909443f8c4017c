"""The software that produced a run's numbers, recorded in results.json beside them."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = (
    "verirag",
    "ragas",
    "ranx",
    "scikit-learn",
    "numpy",
    "torch",
    "sentence-transformers",
    "transformers",
    "qdrant-edge-py",
    "qdrant-client",
    "llama-cpp-python",
    "openai",
    "langchain-core",
    "matplotlib",
)


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions
