"""Asking on the page: the reasoning streams before the answer, each answer claim carries its verdict
(colour and badge), citations open their source with the evidence highlighted, a misreading in the
trace is marked, the abstain policy says why the answer waits and shows what it replaced, follow-up
questions carry the conversation, and all of it works from the keyboard alone."""

from __future__ import annotations

import pytest

from tests.web.browser import needs_browser
from tests.web.pages import ANSWER, TRACE, ask, claim, shot, wait_checked
from tests.web.scripted_model import CONTRADICTED_CLAIM, MISREAD_TRACE, OVERSPEED_QUESTION, SUPPORTED_CLAIM

pytestmark = [pytest.mark.slow, needs_browser]

REASONING_STARTED_ANSWER_NOT = """() => {
  const trace = document.querySelector('.trace-text'), answer = document.querySelector('.answer');
  return trace && answer && trace.textContent.length > 0 && answer.textContent.length === 0;
}"""


def test_the_reasoning_streams_first_then_the_answer_with_each_claim_checked(served, open_page):
    page = open_page(served.url)
    ask(page, OVERSPEED_QUESTION)

    page.wait_for_function(REASONING_STARTED_ANSWER_NOT)  # the trace is arriving and the answer has not begun
    early_trace = page.locator(TRACE).text_content()
    wait_checked(page)
    final_trace = page.locator(TRACE).text_content()
    assert 0 < len(early_trace) < len(final_trace) / 2  # it streamed: a few words at first, not the whole trace

    supported, contradicted = claim(page, "supported"), claim(page, "contradicted")
    assert supported.count() == 1 and SUPPORTED_CLAIM in supported.text_content()
    assert supported.locator(".badge").text_content() == "supported"
    assert contradicted.count() == 1 and CONTRADICTED_CLAIM in contradicted.text_content()
    assert contradicted.locator(".badge").text_content() == "contradicted"
    misread = claim(page, "contradicted", TRACE)
    assert misread.count() == 1 and MISREAD_TRACE in misread.text_content()
    assert misread.locator(".badge").text_content().startswith("misstates S")
    summary = page.locator(".verdict")
    assert "policy: flag" in summary.text_content() and "1 supported, 1 contradicted" in summary.text_content()


def test_citations_open_their_source_and_a_claim_shows_its_evidence(served, open_page, artifacts):
    page = open_page(served.url)
    ask(page, OVERSPEED_QUESTION)
    wait_checked(page)

    citation = page.locator(f"{ANSWER} a.cite").first
    label = citation.text_content()
    citation.click()
    assert page.locator("#viewer-title").text_content().startswith(f"{label} · ")
    assert page.locator(f"#source-{label}").get_attribute("aria-current") == "true"
    assert page.locator("#source-viewer .source-text").is_visible()

    claim(page, "supported").hover()
    evidence = page.locator("#source-viewer mark.evidence.active")
    evidence.wait_for()
    assert "tone-supported" in evidence.get_attribute("class") and "287.5 rpm" in evidence.text_content()
    detail = page.locator("#claim-detail")
    assert SUPPORTED_CLAIM in detail.text_content() and "Judge" in detail.text_content()
    shot(page, artifacts, "answer-checked", full_page=True)

    claim(page, "contradicted").hover()
    page.locator("#source-viewer mark.evidence.active.tone-contradicted").wait_for()
    assert "contradicted" in detail.locator(".badge").text_content()
    assert "different value" in detail.text_content()  # the exact judge's note, for people


def test_under_the_abstain_policy_the_page_says_why_it_waits_and_shows_the_replaced_answer(served, open_page):
    page = open_page(served.url)
    ask(page, OVERSPEED_QUESTION, verify="abstain")

    page.wait_for_function(REASONING_STARTED_ANSWER_NOT)
    notice = page.locator(".hold-notice")
    assert notice.is_visible() and "abstain policy" in notice.text_content()
    assert "held back until the verifier has checked it" in notice.text_content()
    wait_checked(page)
    assert "policy: abstain" in page.locator(".verdict").text_content()
    assert page.locator(ANSWER).text_content().startswith("The sources do not support")
    replaced = page.locator(".verdict details.replaced")
    assert not replaced.locator(".replaced-text").is_visible()  # shown on request only
    replaced.locator("summary").click()
    assert CONTRADICTED_CLAIM in replaced.locator(".replaced-text").text_content()


def test_a_follow_up_goes_with_the_conversation_and_earlier_questions_stay_listed(served, web_model, open_page):
    page = open_page(served.url)
    ask(page, OVERSPEED_QUESTION)
    wait_checked(page)
    first_answer = page.locator(ANSWER).text_content()
    ask(page, "And what must the technician do before Unit 3 runs again?")
    wait_checked(page)

    messages = web_model.chat_bodies[-1]["messages"]
    assert {"role": "user", "content": OVERSPEED_QUESTION} in messages
    assert any(m["role"] == "assistant" and SUPPORTED_CLAIM in m["content"] for m in messages)
    items = page.locator("#history-list .history-item")
    assert items.count() == 2 and "before Unit 3 runs again" in items.nth(0).text_content()

    items.nth(1).click()  # the earlier question, drawn again from the session
    assert page.locator("#turn .question").text_content() == OVERSPEED_QUESTION
    assert page.locator(ANSWER).text_content() == first_answer

    page.click("#new-conversation")
    ask(page, OVERSPEED_QUESTION)
    wait_checked(page)
    assert [m["role"] for m in web_model.chat_bodies[-1]["messages"]] == ["system", "user"]  # a fresh start


def focus_by_tab(page, selector: str, limit: int = 80, backwards: bool = False) -> None:
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never took the keyboard focus")


def test_asking_and_following_citations_work_from_the_keyboard_alone(served, open_page):
    page = open_page(served.url)
    page.wait_for_selector('#ask-collection option[value="demo"]', state="attached")
    focus_by_tab(page, "#question")
    page.keyboard.type("At what speed does Unit 3")
    page.keyboard.press("Shift+Enter")  # a new line, not a send
    page.keyboard.type("trip on overspeed?")
    assert page.input_value("#question") == "At what speed does Unit 3\ntrip on overspeed?"
    assert page.locator("#turn .question").count() == 0
    page.keyboard.press("Enter")
    wait_checked(page)

    focus_by_tab(page, f"{ANSWER} a.cite")
    label = page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "viewer-title"
    assert page.locator("#viewer-title").text_content().startswith(f"{label} · ")

    focus_by_tab(page, f"{ANSWER} .claim.tone-supported", backwards=True)
    assert SUPPORTED_CLAIM in page.locator("#claim-detail").text_content()  # focus shows what hover shows
    page.locator("#source-viewer mark.evidence.active").wait_for()
