"""The browser tests: Playwright drives Debian's chromium (never Playwright's own browser download,
which needs the network) against a real ``verirag serve`` on loopback, whose model is the DeepSeek
wire-format server of tests/support answering from tests/web/scripted_model.py.

The set-up installs both (scripts/install_browser.sh, pyproject's ``test`` extra); where chromium or
Playwright is missing anyway, each module is skipped with the reason (tests/web/browser.py).
Screenshots go to ``.verirag/test-artifacts/web/`` (``VERIRAG_TEST_ARTIFACTS``
moves the folder); every page fails its test on a console error or an uncaught exception, except the
HTTP errors a test provokes on purpose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.deepseek_server import DeepSeekWireServer
from tests.web.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, LAPTOP, sync_playwright
from tests.web.scripted_model import scripted_reply
from tests.web.served import SAMPLES, ServedVerirag

DEMO_DOCUMENTS = ("oncall_runbook.md", "release_notes.txt", "maintenance_log.csv", "safety_manual.pdf")


@pytest.fixture(scope="session")
def web_model():
    with DeepSeekWireServer(api_key="sk-test", responder=scripted_reply) as server:
        yield server


@pytest.fixture(scope="session")
def served(tmp_path_factory, web_model):
    """An open server (loopback, no keys) whose collection ``demo`` holds four sample documents,
    uploaded through the API, so the safety manual's PDF is held for the page view."""
    with ServedVerirag(tmp_path_factory.mktemp("web-open"), web_model) as server:
        job = server.upload("demo", [SAMPLES / name for name in DEMO_DOCUMENTS])
        assert job["state"] == "succeeded" and all(f["status"] == "ingested" for f in job["files"]), job
        yield server


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ConsoleWatch:
    """Console errors and uncaught exceptions of one page; a test allows the ones it provokes."""

    def __init__(self, page):
        self.problems: list[str] = []
        self.allowed: list[re.Pattern] = []
        page.on("console", lambda message: self.problems.append(f"console.{message.type}: {message.text}")
                if message.type == "error" else None)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a.search(p) for a in self.allowed)]


@pytest.fixture
def open_page(browser):
    """``open_page(url, viewport=LAPTOP, color_scheme="light")`` → a page in a fresh context (its own
    sessionStorage), watched for console errors, which fail the test when it ends."""
    contexts, watches = [], []

    def make(url: str, viewport: dict = LAPTOP, color_scheme: str = "light"):
        context = browser.new_context(viewport=viewport, color_scheme=color_scheme)
        context.set_default_timeout(60_000)
        contexts.append(context)
        page = context.new_page()
        page.console = ConsoleWatch(page)
        watches.append(page.console)
        page.goto(url)
        return page

    yield make
    for context in contexts:
        context.close()
    problems = [problem for watch in watches for problem in watch.unexpected()]
    assert not problems, "the page logged errors:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
