"""Under the retry policy the answer a second attempt replaced is kept in ``replaced_answer``, as the
abstain policy keeps the answer it replaced: a reader (the web page's "show the first attempt") can
see what the verifier turned down. When the first answer is kept, nothing was replaced."""

from __future__ import annotations

from tests.rag.test_pipeline_policy import right_reply, run, server, wrong_reply  # noqa: F401 - fixtures
from tests.support.deepseek_server import Reply


def test_the_first_draft_is_kept_when_a_retry_replaces_it(server, data_dir):  # noqa: F811
    result = run(server, data_dir, "retry", wrong_reply, right_reply)
    assert "287.5 rpm" in result.answer and result.verdict.policy_action == "retry"
    assert result.replaced_answer is not None and "350 rpm" in result.replaced_answer
    assert result.to_dict()["replaced_answer"] == result.replaced_answer


def test_nothing_is_replaced_when_the_retry_keeps_the_first_answer(server, data_dir):  # noqa: F811
    result = run(server, data_dir, "retry", wrong_reply, lambda body: Reply(content="It might be fast, I think."))
    assert "350 rpm" in result.answer and result.replaced_answer is None
