"""The page at a phone's width (one column, nothing wider than the screen, the sources under the
answer) and in the system's dark scheme."""

from __future__ import annotations

import pytest

from tests.web.browser import PHONE, needs_browser
from tests.web.pages import ask, shot, wait_checked
from tests.web.scripted_model import OVERSPEED_QUESTION

pytestmark = [pytest.mark.slow, needs_browser]


def test_at_phone_width_everything_fits_in_one_column(served, open_page, artifacts):
    page = open_page(served.url, viewport=PHONE)
    ask(page, OVERSPEED_QUESTION)
    wait_checked(page)
    page.locator(".answer a.cite").first.click()

    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is {width[0]}px wide on a {width[1]}px screen"
    answer, sources, history = (page.locator(s).bounding_box() for s in (".answer", ".sources", ".history"))
    assert sources["y"] > answer["y"] + answer["height"] - 1 and history["y"] > sources["y"]
    for box in (answer, sources, history):
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    shot(page, artifacts, "phone-answer")
    page.screenshot(path=str(artifacts / "phone-answer-full.png"), full_page=True)


def test_the_dark_scheme_follows_the_system_setting(served, open_page, artifacts):
    page = open_page(served.url, color_scheme="dark")
    ask(page, OVERSPEED_QUESTION)
    wait_checked(page)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in background[background.index("(") + 1:-1].split(",")[:3])
    assert red + green + blue < 150, background
    shot(page, artifacts, "answer-dark")
