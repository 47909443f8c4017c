"""Run chosen tests in a child pytest process, so that a crash in native code fails that test only.

llama.cpp, ONNX Runtime and the PDF libraries run native code in the test process. When one of them
dies (SIGSEGV, SIGILL, an abort), an ordinary pytest run dies with it and no later test runs. Tests
marked ``isolated`` therefore run in a child pytest process instead:

* One child serves every isolated test of the session, on demand and in the parent's order: the
  parent sends "run this test (the next isolated one is that)", the child runs it with pytest's own
  protocol and streams back its reports, which the parent logs as if the test had run in-process.
  Module and session fixtures are shared inside the child as usual, so the cost is one more pytest
  start per session (≈10 s of CPU on these 2-core machines: pytest's plugins, the conftest, the
  isolated modules' imports) and the session fixtures the child needs again (the embedding model).
* The child is a fresh interpreter (``subprocess``, not ``fork``): forking a parent whose torch or
  OpenMP threads have started can deadlock the child.
* When the child dies, the test it was running fails with the signal named (``SIGSEGV``) and the
  tail of the child's output (faulthandler's Python traceback included); the next isolated test
  starts a new child. A child that neither finishes nor dies within the test's timeout plus a grace
  period is killed and the test fails saying so.

``VERIRAG_TEST_ISOLATION=off`` runs the marked tests in-process, as ``--pdb`` and ``--trace`` do.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest._code.code import ReprFileLocation, TerminalRepr
from _pytest.reports import TestReport

MARKER = "isolated"
CHILD_ENV = "_VERIRAG_ISOLATION_FDS"  # "read_fd,write_fd" in the child process
SWITCH_ENV = "VERIRAG_TEST_ISOLATION"
# Time a child may take to start (interpreter, imports, collection) on a busy 2-core machine, on top
# of the test's own timeout, before the parent gives up on it.
START_GRACE_S = float(os.environ.get("VERIRAG_TEST_ISOLATION_GRACE_S", 180.0))
OUTPUT_TAIL_LINES = 40
FAULT_FRAMES = 16  # lines of faulthandler's report kept in the failure

# Options of the parent's command line that change how a test runs or reports, passed to the child.
_FORWARD_WITH_VALUE = ("-p", "-W", "-o", "--override-ini", "--pythonwarnings", "--timeout", "--timeout-method",
                       "--tb", "--import-mode", "--capture", "--log-level", "--confcutdir")
_FORWARD_FLAGS = ("-s", "-l", "--showlocals", "--runxfail", "--full-trace", "-v", "-vv", "-vvv")


def configure(config: pytest.Config) -> None:
    """Register the marker and the parent or child side of the isolation (from a conftest's
    ``pytest_configure``)."""
    config.addinivalue_line(
        "markers", f"{MARKER}: run in a child pytest process, so a crash in native code fails only this test"
    )
    if config.pluginmanager.has_plugin("verirag-isolation"):
        return
    fds = os.environ.pop(CHILD_ENV, None)  # not for pytest runs the tests start themselves
    if fds:
        read_fd, write_fd = (int(fd) for fd in fds.split(","))
        config.pluginmanager.register(_Child(config, read_fd, write_fd), "verirag-isolation")
    elif os.environ.get(SWITCH_ENV, "on").lower() in ("0", "off", "no", "false"):
        return
    elif config.getoption("usepdb", False) or config.getoption("trace", False):
        return  # a debugger needs the test in this process
    else:
        config.pluginmanager.register(_Parent(config), "verirag-isolation")


def _serialize(config: pytest.Config, report) -> dict:
    return config.hook.pytest_report_to_serializable(config=config, report=report)


def _deserialize(config: pytest.Config, data: dict):
    report = config.hook.pytest_report_from_serializable(config=config, data=data)
    # JSON has no tuples; the terminal reporter and junitxml unpack these
    report.location = tuple(report.location)
    report.sections = [tuple(section) for section in report.sections]
    report.user_properties = [tuple(prop) for prop in report.user_properties]
    if isinstance(report.longrepr, list):  # a skip's (path, line, reason)
        report.longrepr = tuple(report.longrepr)
    return report


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_exit(returncode: int) -> str:
    """``died from signal SIGSEGV (11: Segmentation fault)`` or ``exited with code 3``."""
    if returncode < 0:
        number = -returncode
        return f"died from signal {signal_name(number)} ({number}: {signal.strsignal(number) or 'unknown'})"
    return f"exited with code {returncode}"


class _Worker:
    """One child pytest process and its two pipes."""

    def __init__(self, config: pytest.Config, modules: list[str], basetemp: Path, log_path: Path):
        self.log_path = log_path
        cmd_read, self._cmd_write = os.pipe()
        self._res_read, res_write = os.pipe()
        env = dict(os.environ, **{CHILD_ENV: f"{cmd_read},{res_write}"})
        args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                f"--rootdir={config.rootpath}", f"--basetemp={basetemp}"]
        if config.inipath is not None:
            args += ["-c", str(config.inipath)]
        args += _forwarded_options(config.invocation_params.args)
        args += modules
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                args, cwd=config.rootpath, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(cmd_read, res_write), start_new_session=True,
            )
        os.close(cmd_read)
        os.close(res_write)
        self._buffer = b""
        self.started = time.monotonic()

    def send(self, message: dict) -> bool:
        try:
            os.write(self._cmd_write, (json.dumps(message) + "\n").encode())
            return True
        except OSError:  # the child is gone: the caller finds out from receive()
            return False

    def receive(self, deadline: float | None) -> dict | None:
        """The next message, or None when the child is gone (it died or exited) or the deadline
        passed (then ``self.timed_out`` is set)."""
        self.timed_out = False
        while b"\n" not in self._buffer:
            # wake up every second: a process the test forked may hold the pipe open after the child died
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            ready, _, _ = select.select([self._res_read], [], [], wait)
            if ready:
                chunk = os.read(self._res_read, 1 << 16)
                if not chunk:
                    return None
                self._buffer += chunk
            elif self.process.poll() is not None:
                return None
            elif deadline is not None and time.monotonic() >= deadline:
                self.timed_out = True
                return None
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the child and anything it started
            except ProcessLookupError:
                pass

    def close(self, wait_s: float = 60.0) -> None:
        """Ask the child to finish (its session teardown runs), then reap it."""
        for fd in (self._cmd_write, self._res_read):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()

    def returncode(self) -> int:
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.wait()

    def output_tail(self) -> str:
        """faulthandler's report of the crash when there is one (innermost frames first), else the
        last lines the child wrote."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for index in range(len(lines) - 1, -1, -1):
            at = lines[index].find("Fatal Python error")
            if at >= 0:
                block = [lines[index][at:], *lines[index + 1 : index + FAULT_FRAMES]]
                return "\n".join(block + (["  …"] if len(lines) > index + FAULT_FRAMES else []))
        return "\n".join(lines[-OUTPUT_TAIL_LINES:])


class _CrashRepr(TerminalRepr):
    """A failure without a Python traceback; ``reprcrash.message`` is what the short summary and
    junitxml show on one line."""

    def __init__(self, text: str, summary: str, item: pytest.Item):
        self.text = text
        path, lineno, _ = item.location
        self.reprcrash = ReprFileLocation(path, (lineno or 0) + 1, summary)

    def toterminal(self, tw) -> None:
        for line in self.text.splitlines():
            tw.line(line)


def _forwarded_options(args) -> list[str]:
    out: list[str] = []
    args = [str(arg) for arg in args]
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.split("=", 1)[0] in _FORWARD_WITH_VALUE:
            if "=" in arg:
                out.append(arg)  # --tb=short
            elif index + 1 < len(args):
                out += [arg, args[index + 1]]
                index += 1
        elif any(arg.startswith(short) and len(arg) > 2 for short in ("-p", "-W", "-o")):
            out.append(arg)  # -pno:randomly, -Werror
        elif arg in _FORWARD_FLAGS:
            out.append(arg)
        index += 1
    return out


def _timeout_of(item: pytest.Item) -> float | None:
    """The timeout pytest-timeout gives this test (None: none), read before the parent's own
    ``timeout(0)`` marker is added."""
    marker = item.get_closest_marker("timeout")
    value = None
    if marker is not None:
        value = marker.kwargs.get("timeout", marker.args[0] if marker.args else None)
    else:
        value = item.config.getoption("timeout", None)
        if value is None:
            try:
                value = item.config.getini("timeout")
            except ValueError:
                value = None
    try:
        value = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        value = None
    return value if value and value > 0 else None


class _Parent:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.next: dict[str, str | None] = {}
        self.pending: list[pytest.Item] = []
        self.worker: _Worker | None = None
        self.timeouts: dict[str, float | None] = {}
        self.collect_errors: list[str] = []
        self.started = 0
        self._dir: Path | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        isolated = [item for item in session.items if item.get_closest_marker(MARKER) is not None]
        for item, following in zip(isolated, isolated[1:] + [None]):
            self.next[item.nodeid] = following.nodeid if following is not None else None
        self.pending = isolated
        self.timeouts = {item.nodeid: _timeout_of(item) for item in isolated}
        manager = self.config.pluginmanager
        if isolated and (manager.has_plugin("timeout") or manager.has_plugin("pytest_timeout")):
            # the parent only waits for the child, which applies the timeout itself; the parent's
            # own deadline (timeout + START_GRACE_S) is the backstop
            for item in isolated:
                item.add_marker(pytest.mark.timeout(0), append=False)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        if item.nodeid not in self.next:
            return None
        timeout = self.timeouts.get(item.nodeid)
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        for report in self._run_in_child(item, timeout):
            ihook.pytest_runtest_logreport(report=report)
        self._teardown_parent_fixtures(item, nextitem)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        if item in self.pending:
            self.pending.remove(item)
        return True

    def pytest_sessionfinish(self, session, exitstatus) -> None:
        if self.worker is not None:
            if exitstatus == pytest.ExitCode.INTERRUPTED:
                self.worker.kill()  # in its own session, it never saw the Ctrl-C
            self.worker.close()
            self.worker = None

    # --- internals ---------------------------------------------------------------------------

    def _workdir(self) -> Path:
        if self._dir is None:
            factory = getattr(self.config, "_tmp_path_factory", None)
            if factory is not None:
                self._dir = factory.mktemp("isolated", numbered=True)
            else:
                self._dir = Path(tempfile.mkdtemp(prefix="verirag-isolated-"))
        return self._dir

    def _start_worker(self) -> _Worker:
        modules = list(dict.fromkeys(item.nodeid.split("::", 1)[0] for item in self.pending))
        self.started += 1
        workdir = self._workdir()
        return _Worker(self.config, modules, workdir / f"child-{self.started}", workdir / f"child-{self.started}.log")

    def _run_in_child(self, item: pytest.Item, timeout: float | None) -> Iterator:
        if self.worker is None or self.worker.process.poll() is not None:
            if self.worker is not None:
                self.worker.close(wait_s=5)
            self.worker = self._start_worker()
        worker = self.worker
        began = time.monotonic()
        deadline = None if timeout is None else began + timeout + START_GRACE_S
        worker.send({"run": item.nodeid, "next": self.next.get(item.nodeid)})
        phases: list[str] = []
        while True:
            message = worker.receive(deadline)
            if message is None:
                break
            if "report" in message:
                report = _deserialize(self.config, message["report"])
                if report.nodeid == item.nodeid:
                    phases.append(report.when)
                yield report
            elif "collect_error" in message:
                self.collect_errors.append(f"{message['collect_error']}:\n{message['longrepr']}")
            elif message.get("missing") == item.nodeid:
                errors = "\n".join(self.collect_errors) or worker.output_tail()
                yield self._failure(item, "setup", time.monotonic() - began,
                                    f"the isolated test process did not collect this test:\n{errors}")
                return
            elif message.get("done") == item.nodeid:
                return
        # the child died, or hangs past the deadline
        when = "setup" if "setup" not in phases else "call" if "call" not in phases else "teardown"
        if worker.timed_out:
            worker.kill()
            what = (f"did not finish within {timeout + START_GRACE_S:.0f} s (its timeout {timeout:.0f} s plus "
                    f"{START_GRACE_S:.0f} s to start the process) and was killed")
            headline = f"timeout: the isolated test process hung ({when})"
        else:
            returncode = worker.returncode()
            what = describe_exit(returncode)
            cause = (f"{signal_name(-returncode)} ({-returncode}: {signal.strsignal(-returncode)})"
                     if returncode < 0 else f"exit code {returncode}")
            headline = f"{cause}: the isolated test process died ({when})"
        self.worker = None
        worker.close(wait_s=5)
        text = (f"the isolated test process (pid {worker.process.pid}) {what} while running this test ({when}); "
                f"the rest of the suite carries on in a new process.\n"
                f"Its output (all of it: {worker.log_path}):\n{worker.output_tail()}")
        summary = headline
        yield self._failure(item, when, time.monotonic() - began, text, summary)

    @staticmethod
    def _failure(item: pytest.Item, when: str, duration: float, text: str, summary: str | None = None) -> TestReport:
        return TestReport(
            nodeid=item.nodeid, location=item.location, keywords={name: 1 for name in item.keywords},
            outcome="failed", longrepr=_CrashRepr(text, summary or text.splitlines()[0], item), when=when,
            sections=[], duration=duration, user_properties=[],
        )

    @staticmethod
    def _teardown_parent_fixtures(item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """What pytest does after each test: fixtures of earlier in-process tests that ``nextitem``
        does not share are finalized (the isolated test set none up here)."""
        state = getattr(item.session, "_setupstate", None)
        if state is None:
            return
        from _pytest.runner import CallInfo

        call = CallInfo.from_call(lambda: state.teardown_exact(nextitem), "teardown")
        if call.excinfo is not None:
            item.ihook.pytest_runtest_logreport(report=TestReport.from_item_and_call(item, call))


class _Child:
    """The child side: runs the tests the parent names, one at a time, and streams their reports."""

    def __init__(self, config: pytest.Config, read_fd: int, write_fd: int):
        self.config = config
        for fd in (read_fd, write_fd):
            os.set_inheritable(fd, False)  # not for processes the tests start
        self._commands = os.fdopen(read_fd, "r", encoding="utf-8")
        self._results = os.fdopen(write_fd, "w", encoding="utf-8")

    def _send(self, message: dict) -> None:
        self._results.write(json.dumps(message, default=repr) + "\n")
        self._results.flush()

    def pytest_runtest_logreport(self, report) -> None:
        self._send({"report": _serialize(self.config, report)})

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self._send({"collect_error": report.nodeid, "longrepr": str(report.longrepr)})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        items = {item.nodeid: item for item in session.items}
        for line in self._commands:
            command = json.loads(line)
            item = items.get(command["run"])
            if item is None:
                self._send({"missing": command["run"]})
                continue
            following = items.get(command.get("next") or "")
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=following)
            self._send({"done": item.nodeid})
        return True
