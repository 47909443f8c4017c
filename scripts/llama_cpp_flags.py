"""Choose llama.cpp's CPU build flags from what this CPU and its kernel really support.

llama.cpp builds with ``-march=native`` by default. That breaks in two ways seen on these machines:
a VM whose cpuid advertises AMX tiles that the hypervisor never enables dies with a general-protection
fault at ``ldtilecfg`` on the first generation, and a wheel built on a newer CPU and reused on an older
one dies with SIGILL. So the build is never native and never uses AMX: each instruction-set flag is
turned on only when ``/proc/cpuinfo`` lists it. Linux lists a vector extension only when the kernel
saves its register state (XSAVE), so a listed AVX-512 flag is usable by user code.

Usage (set-up runs it with the system Python, before any venv exists)::

    python3 scripts/llama_cpp_flags.py            # prints the CMAKE_ARGS
    python3 scripts/llama_cpp_flags.py --key      # prints a short key of the flags (wheel cache key)
"""

from __future__ import annotations

import hashlib
import platform
import sys
from pathlib import Path

# ggml CMake option → every /proc/cpuinfo flag it needs.
X86_OPTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("GGML_SSE42", ("sse4_2",)),
    ("GGML_AVX", ("avx",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    ("GGML_AVX512", ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd")),
    ("GGML_AVX512_VBMI", ("avx512f", "avx512vbmi")),
    ("GGML_AVX512_VNNI", ("avx512f", "avx512_vnni")),
    ("GGML_AVX512_BF16", ("avx512f", "avx512_bf16")),
]
# Never built in: cpuid may advertise them while the VM leaves the tile state disabled.
ALWAYS_OFF = ("GGML_NATIVE", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")


def cpu_flags(cpuinfo: str) -> set[str]:
    """The feature flags of the first processor in a ``/proc/cpuinfo`` text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cmake_options(flags: set[str], machine: str = "x86_64") -> dict[str, bool]:
    """ggml options for a CPU with ``flags``. On other architectures only native/AMX are pinned
    off: ggml's defaults for ARM are portable baselines already."""
    options = {name: False for name in ALWAYS_OFF}
    if machine in ("x86_64", "AMD64", "i686"):
        for name, needs in X86_OPTIONS:
            options[name] = all(flag in flags for flag in needs)
    return options


def cmake_args(options: dict[str, bool]) -> str:
    return " ".join(f"-D{name}={'ON' if on else 'OFF'}" for name, on in sorted(options.items()))


def flags_key(options: dict[str, bool]) -> str:
    """A short, stable key of the instruction sets built in: wheels are cached under it, so a wheel
    built for one CPU is never installed on a CPU that lacks its instructions."""
    enabled = ",".join(sorted(name for name, on in options.items() if on)) or "baseline"
    return f"{platform.machine()}-" + hashlib.sha256(enabled.encode()).hexdigest()[:12]


def main(argv: list[str]) -> int:
    cpuinfo_path = Path("/proc/cpuinfo")
    text = cpuinfo_path.read_text() if cpuinfo_path.exists() else ""
    options = cmake_options(cpu_flags(text), platform.machine())
    if "--key" in argv:
        print(flags_key(options))
    elif "--enabled" in argv:
        print(" ".join(sorted(n.removeprefix("GGML_") for n, on in options.items() if on)) or "baseline")
    else:
        print(cmake_args(options))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
