"""bench/fresh_setup.py without a real clone: the environment it gives make, pytest's summary line,
its dry run and its markdown."""

from __future__ import annotations

from bench import fresh_setup


def test_empty_pip_cache_and_the_rest_of_the_environment_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    env = fresh_setup.clean_environment(tmp_path)
    assert env["PIP_CACHE_DIR"] == str(tmp_path)
    assert "PIP_NO_CACHE_DIR" not in env and env["SOMETHING_ELSE"] == "kept"


def test_pytest_summary_counts():
    lines = ["=== short test summary info ===", "SKIPPED [1] x",
             "==== 2 failed, 512 passed, 3 skipped, 1 error, 2 warnings in 901.22s (0:15:01) ===="]
    summary = fresh_setup.pytest_summary(lines)
    assert summary["passed"] == 512 and summary["failed"] == 2 and summary["errors"] == 1
    assert summary["skipped"] == 3 and summary["warnings"] == 2
    assert fresh_setup.pytest_summary(["nothing like it"]) is None


def test_dry_run_prints_clone_commands_and_runs_nothing(capsys):
    assert fresh_setup.main(["--dry-run", "--only", "test"]) == 0
    out = capsys.readouterr().out
    assert f"git clone --quiet --no-hardlinks {fresh_setup.ROOT}" in out
    assert f"{fresh_setup.ROOT.parent}/fresh-bench-XXXX" in out
    assert "make test" in out and "make demo" not in out and "rm -rf" in out


def test_markdown_marks_goals_and_shows_a_failed_commands_tail():
    result = {
        "date": "2026-11-30", "commit": "0123456789abcdef", "clone_parent": "/work", "pip_cache": "empty",
        "machine": {"nproc": 2, "cpu_model": "CPU"},
        "commands": {
            "demo": {"command": "make demo", "seconds": 600.0, "exit_code": 0, "goal_seconds": 900},
            "test": {"command": "make test", "seconds": 700.0, "exit_code": 2, "goal_seconds": 1200,
                     "pytest": {"line": "== 1 failed, 9 passed in 1s ==", "failed": 1, "passed": 9},
                     "output_tail": ["FAILED tests/x.py::test_y"]},
        },
    }
    text = fresh_setup.render_markdown(result)
    assert "| `make demo` | 10.0 min | ≤ 15 min ✓ | 0 |" in text
    assert "≤ 20 min ✗ | 2 | 1 failed, 9 passed in 1s |" in text
    assert "FAILED tests/x.py::test_y" in text


def test_the_llama_cpp_build_lines_of_the_set_up_log_are_kept_and_shown_once(monkeypatch, tmp_path):
    script = tmp_path / "Makefile"
    script.write_text("demo:\n\t@echo 'setup: installing verirag[test]'\n"
                      "\t@echo 'setup: compiling llama-cpp-python 0.3.36 for this CPU (AVX AVX2 FMA)'\n"
                      "\t@echo 'setup: CMAKE_ARGS=-DGGML_NATIVE=OFF -DGGML_AVX2=ON'\n")
    outcome = fresh_setup.run_make("demo", tmp_path, dict(__import__("os").environ), timeout_s=60)
    assert outcome["exit_code"] == 0
    assert outcome["llama_cpp_build"] == ["setup: compiling llama-cpp-python 0.3.36 for this CPU (AVX AVX2 FMA)",
                                          "setup: CMAKE_ARGS=-DGGML_NATIVE=OFF -DGGML_AVX2=ON"]
    result = {"date": "d", "commit": "0123456789abcdef", "clone_parent": "/work", "pip_cache": "empty",
              "machine": {"nproc": 2, "cpu_model": "CPU"},
              "commands": {"demo": outcome, "test": {**outcome, "command": "make test"}}}
    text = fresh_setup.render_markdown(result)
    assert text.count("compiling llama-cpp-python 0.3.36 for this CPU (AVX AVX2 FMA)") == 1
    assert "`CMAKE_ARGS=-DGGML_NATIVE=OFF -DGGML_AVX2=ON`" in text
