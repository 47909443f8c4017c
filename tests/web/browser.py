"""Which browser the web tests drive, and whether they can run here.

Debian's ``chromium`` (or ``VERIRAG_CHROMIUM``) through Playwright's ``executable_path``: Playwright's
own browser download needs the network. scripts/install_browser.sh installs chromium; pyproject's
``test`` extra installs Playwright. Each test module carries ``pytestmark = [slow, needs_browser]``,
which skips it, saying why, only where one of the two is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.web.served import REPO

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the set-up installs it
    sync_playwright = None

CHROMIUM = os.environ.get("VERIRAG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Without the network flags chromium keeps calling Google's services, on a network that may be closed.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions"]
ARTIFACTS = Path(os.environ.get("VERIRAG_TEST_ARTIFACTS", REPO / ".verirag" / "test-artifacts")) / "web"
LAPTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}


def _missing() -> str | None:
    if sync_playwright is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if CHROMIUM is None:
        return ("no chromium to drive (Debian: apt-get install chromium, which scripts/install_browser.sh runs; "
                "or set VERIRAG_CHROMIUM to a chromium binary)")
    return None


needs_browser = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
