"""tests/support/isolation.py: a test that crashes the interpreter fails alone, with its signal named,
and the rest of the suite runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support import isolation

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]

CONFTEST = """
from tests.support import isolation

def pytest_configure(config):
    isolation.configure(config)
"""


@pytest.fixture
def inner(pytester, monkeypatch):
    """A pytester whose inner runs find tests.support and start as parents (not as children)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.delenv(isolation.CHILD_ENV, raising=False)
    monkeypatch.delenv(isolation.SWITCH_ENV, raising=False)
    # the inner runs need none of the installed plugins (schemathesis alone costs seconds per process)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(CONFTEST)
    return pytester


def test_a_segfault_fails_its_test_with_the_signal_and_the_suite_carries_on(inner):
    inner.makepyfile(test_crash=textwrap.dedent("""
        import os
        import signal

        import pytest

        def test_in_process_before():
            assert True

        @pytest.mark.isolated
        def test_segfaults():
            os.kill(os.getpid(), signal.SIGSEGV)

        @pytest.mark.isolated
        def test_passes_after_the_crash():
            assert 1 + 1 == 2
    """))
    # with pytest-timeout as in the suite: the parent waits without its own timer, the child has one
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-p", "pytest_timeout", "--timeout", "60", "-rf")
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines([
        "*died from signal SIGSEGV (11: Segmentation fault) while running this test (call)*",
        "FAILED test_crash.py::test_segfaults - SIGSEGV (11: Segmentation fault)*",
    ])
    # faulthandler's traceback in the child's output points at the line that crashed
    assert "Segmentation fault" in result.stdout.str() and "in test_segfaults" in result.stdout.str()
    assert "test_passes_after_the_crash PASSED" not in result.stdout.str()  # not verbose: only counts


def test_isolated_tests_share_module_fixtures_and_report_like_in_process_ones(inner):
    marks = inner.path / "setups.txt"
    inner.makepyfile(test_shared=textwrap.dedent(f"""
        import os

        import pytest

        pytestmark = pytest.mark.isolated

        @pytest.fixture(scope="module")
        def once():
            with open({str(marks)!r}, "a") as f:
                f.write(str(os.getpid()) + "\\n")
            return os.getpid()

        def test_runs_in_a_child(once, request):
            plugin = request.config.pluginmanager.get_plugin("verirag-isolation")
            assert type(plugin).__name__ == "_Child" and os.getpid() == once

        def test_same_child(once):
            assert os.getpid() == once

        def test_an_ordinary_failure():
            print("captured in the child")
            assert 1 == 2

        @pytest.mark.skip(reason="skipped in the child")
        def test_skipped():
            pass
    """))
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(failed=1, passed=2, skipped=1)
    result.stdout.fnmatch_lines([
        "*test_shared.py::test_runs_in_a_child PASSED*",
        "*assert 1 == 2*",
        "*captured in the child*",
    ])
    assert len(marks.read_text().split()) == 1  # the module fixture was set up once, in one child


def test_a_child_that_exits_midway_is_a_failure_with_its_exit_code(inner):
    inner.makepyfile(test_exit=textwrap.dedent("""
        import os

        import pytest

        @pytest.fixture
        def dies():
            os._exit(7)

        @pytest.mark.isolated
        def test_setup_dies(dies):
            pass

        @pytest.mark.isolated
        def test_next():
            pass
    """))
    result = inner.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(["*exited with code 7 while running this test (setup)*"])


def test_a_child_that_hangs_past_its_timeout_is_killed(inner, monkeypatch):
    """The backstop for a hang pytest-timeout cannot break (here: no pytest-timeout in the child)."""
    monkeypatch.setenv("VERIRAG_TEST_ISOLATION_GRACE_S", "2")
    inner.makepyfile(test_hang=textwrap.dedent("""
        import time

        import pytest

        @pytest.mark.isolated
        @pytest.mark.timeout(1)
        def test_hangs():
            time.sleep(120)

        @pytest.mark.isolated
        def test_next():
            pass
    """))
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*did not finish within 3 s (its timeout 1 s plus 2 s to start the process)*"])
    assert result.duration < 60


def test_isolation_off_runs_in_process(inner, monkeypatch):
    monkeypatch.setenv(isolation.SWITCH_ENV, "off")
    inner.makepyfile(test_here=textwrap.dedent("""
        import pytest

        @pytest.mark.isolated
        def test_here(request):
            assert request.config.pluginmanager.get_plugin("verirag-isolation") is None
    """))
    inner.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize(("returncode", "text"), [
    (-11, "died from signal SIGSEGV (11: Segmentation fault)"),
    (-4, "died from signal SIGILL (4: Illegal instruction)"),
    (3, "exited with code 3"),
])
def test_exit_descriptions(returncode, text):
    assert isolation.describe_exit(returncode) == text


def test_forwarded_options():
    args = ["tests/x.py", "-k", "foo", "--tb=short", "-p", "no:randomly", "-Werror", "-x", "-o", "a=b", "-vv",
            "--timeout", "30"]
    assert isolation._forwarded_options(args) == [
        "--tb=short", "-p", "no:randomly", "-Werror", "-o", "a=b", "-vv", "--timeout", "30"]
