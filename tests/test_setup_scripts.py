"""The set-up scripts: llama.cpp's CPU build flags chosen from /proc/cpuinfo (scripts/llama_cpp_flags.py)
and the smoke check that runs the native libraries once after installing (scripts/smoke_check.py)."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flags = load_script("llama_cpp_flags")

# Abridged from real machines of this kind: a VM on a Sapphire Rapids Xeon whose cpuid advertises AMX
# (the VM does not enable the tile state) and an EPYC VM that exposes AVX but neither AVX2 nor FMA.
INTEL = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch invpcid_single ssbd ibrs ibpb stibp ibrs_enhanced fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 arat avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid cldemote movdiri movdir64b fsrm md_clear serialize tsxldtrk amx_bf16 avx512_fp16 amx_tile amx_int8 arch_capabilities
bugs\t\t: spectre_v1 spectre_v2

processor\t: 1
flags\t\t: fpu sse sse2
"""
AMD = """\
processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext ssbd ibrs ibpb stibp vmmcall fsgsbase bmi1 bmi2 rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 clzero xsaveerptr arat npt nrip_save umip rdpid
"""
NEVER = ("GGML_NATIVE", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")


def options_for(cpuinfo: str) -> dict[str, bool]:
    return flags.cmake_options(flags.cpu_flags(cpuinfo), "x86_64")


def test_intel_with_avx512_and_amx_builds_avx512_but_never_amx_or_native():
    assert "amx_tile" in flags.cpu_flags(INTEL) and "avx512f" in flags.cpu_flags(INTEL)
    options = options_for(INTEL)
    for name in ("GGML_AVX512", "GGML_AVX512_VNNI", "GGML_AVX512_BF16", "GGML_AVX_VNNI",
                 "GGML_AVX2", "GGML_FMA", "GGML_F16C", "GGML_AVX", "GGML_BMI2", "GGML_SSE42"):
        assert options[name] is True, name
    for name in NEVER:
        assert options[name] is False, name
    args = flags.cmake_args(options).split()
    assert "-DGGML_AVX512=ON" in args and "-DGGML_NATIVE=OFF" in args
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(args)
    assert not any("AMX" in arg and arg.endswith("=ON") for arg in args)


def test_intel_avx512_vbmi_is_recognised():
    assert options_for(INTEL)["GGML_AVX512_VBMI"] is True


def test_epyc_without_avx2_keeps_avx_and_drops_avx2_and_fma():
    options = options_for(AMD)
    assert options["GGML_AVX"] and options["GGML_F16C"] and options["GGML_SSE42"] and options["GGML_BMI2"]
    assert not options["GGML_AVX2"] and not options["GGML_FMA"]
    assert not any(options[name] for name in options if "AVX512" in name or "VNNI" in name)
    assert not any(options[name] for name in NEVER)
    assert "-DGGML_AVX2=OFF" in flags.cmake_args(options).split()


def test_an_avx512_flag_missing_turns_that_option_off():
    partial = INTEL.replace(" avx512bw ", " ")
    options = options_for(partial)
    assert not options["GGML_AVX512"] and options["GGML_AVX512_VNNI"] and options["GGML_AVX2"]


def test_the_cache_key_tells_the_cpus_apart_and_is_stable():
    intel, amd = options_for(INTEL), options_for(AMD)
    assert flags.flags_key(intel) != flags.flags_key(amd)
    assert flags.flags_key(intel) == flags.flags_key(options_for(INTEL))
    # the order of the flags in /proc/cpuinfo and of the options does not change it
    words = flags.cpu_flags(INTEL)
    shuffled = sorted(words)
    random.Random(7).shuffle(shuffled)
    assert flags.flags_key(options_for("flags : " + " ".join(shuffled))) == flags.flags_key(intel)
    assert flags.flags_key(dict(reversed(list(intel.items())))) == flags.flags_key(intel)
    # flags that no option reads (a new CPU bug, a hypervisor flag) do not change it either
    assert flags.flags_key(options_for(INTEL.replace("arch_capabilities", "arch_capabilities foo_bar"))) \
        == flags.flags_key(intel)
    key = flags.flags_key(amd)
    assert key.split("-", 1)[1].isalnum() and len(key.split("-", 1)[1]) == 12


def test_other_architectures_only_pin_native_and_amx_off():
    assert flags.cmake_options({"neon", "asimd"}, "aarch64") == {name: False for name in NEVER}
    assert flags.cpu_flags("processor : 0\nFeatures\t: fp asimd evtstrm aes\n") == {"fp", "asimd", "evtstrm", "aes"}
    assert flags.cpu_flags("no flags here") == set()


def test_the_command_line_on_this_machine():
    run = lambda *a: subprocess.run([sys.executable, str(SCRIPTS / "llama_cpp_flags.py"), *a],  # noqa: E731
                                    capture_output=True, text=True, check=True).stdout.strip()
    args = run().split()
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AMX_TILE=OFF" in args
    assert run("--key") == run("--key")
    assert "AMX" not in run("--enabled") and "NATIVE" not in run("--enabled")


# --- the smoke check ------------------------------------------------------------------------------

def smoke(*args: str, pythonpath: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(SCRIPTS / "smoke_check.py"), *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=REPO)


FAKE_LLAMA_CPP = """
import os
import signal

__version__ = "0.0.0-fake"

def llama_print_system_info():
    return b"CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 |"

class Llama:
    def __init__(self, model_path, **kwargs):
        self.model_path = model_path

    def create_completion(self, prompt, **kwargs):
        os.kill(os.getpid(), signal.SIGSEGV)  # what an AMX build did in a VM without tile state
"""


@pytest.mark.slow
def test_smoke_check_stops_on_a_llama_cpp_that_segfaults(tmp_path):
    fake = tmp_path / "fake"
    (fake / "llama_cpp").mkdir(parents=True)
    (fake / "llama_cpp" / "__init__.py").write_text(textwrap.dedent(FAKE_LLAMA_CPP))
    result = smoke("--only", "llama", "--llama-flags", "AVX AVX2 AVX512 F16C FMA", pythonpath=fake)
    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stderr
    assert "smoke check FAILED: llama-cpp-python" in message
    assert "died from signal SIGSEGV (11: Segmentation fault)" in message
    assert "built with the CPU flags: AVX AVX2 AVX512 F16C FMA" in message
    assert "llama.cpp reports: CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 |" in message
    assert "LLAMA_CPP_CMAKE_ARGS=" in message and "-DGGML_NATIVE=OFF" in message and "-DGGML_AVX512=OFF" in message
    assert "LLAMA_CPP_WHEEL=" in message and "pip uninstall -y llama-cpp-python" in message
    assert "Fatal Python error: Segmentation fault" in message  # faulthandler's trace, in the child's output
    assert "smoke check: llama-cpp-python" not in result.stdout


@pytest.mark.slow
def test_smoke_check_stops_on_an_onnxruntime_that_dies_with_sigill(tmp_path):
    fake = tmp_path / "fake"
    (fake / "onnxruntime").mkdir(parents=True)
    (fake / "onnxruntime" / "__init__.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n")
    result = smoke("--only", "onnx", pythonpath=fake)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "smoke check FAILED: onnxruntime" in result.stderr
    assert "died from signal SIGILL (4: Illegal instruction)" in result.stderr
    assert "VERIRAG_EMBED_BACKEND=torch" in result.stderr


@pytest.mark.slow
def test_smoke_check_fails_on_a_broken_gguf_without_a_signal(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    result = smoke("--only", "llama", "--gguf", str(broken))
    assert result.returncode == 1
    assert "smoke check FAILED: llama-cpp-python" in result.stderr and "failed (exit code 1)" in result.stderr
    assert "signal" not in result.stderr.splitlines()[0]


@pytest.mark.slow
def test_smoke_check_passes_on_this_machine():
    """The real llama-cpp-python with the packaged model and the real int8 ONNX encoder."""
    result = smoke()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke check: llama-cpp-python" in result.stdout and "tokens" in result.stdout
    assert "smoke check: onnxruntime" in result.stdout and "384-d" in result.stdout
    assert result.stderr == "" or "FAILED" not in result.stderr
