"""The run folder keeps finished items across runs and refuses to mix configurations."""

from __future__ import annotations

import pytest

from eval.itemlog import ItemLog, RunFolderError


def test_records_survive_reopening_and_errors_are_not_done(tmp_path):
    with ItemLog(tmp_path, "fp1", {"model": "a"}) as log:
        log.append({"key": "qa:1", "answer": "x", "error": None})
        log.append({"key": "qa:2", "error": "ModelUnavailableError: down"})
    with ItemLog(tmp_path, "fp1", {"model": "a"}) as log:
        assert log.done("qa:1") and not log.done("qa:2") and not log.done("qa:3")
        log.append({"key": "qa:2", "answer": "y", "error": None})  # the retry supersedes the failure
    with ItemLog(tmp_path, "fp1", {"model": "a"}) as log:
        assert [r["answer"] for r in log.selected(["qa:2", "qa:1", "qa:9"])] == ["y", "x"]


def test_a_torn_last_line_is_cut_off(tmp_path):
    with ItemLog(tmp_path, "fp1", {}) as log:
        log.append({"key": "qa:1", "error": None})
    with open(tmp_path / "items.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"key": "qa:2", "err')
    with ItemLog(tmp_path, "fp1", {}) as log:
        assert log.done("qa:1") and not log.done("qa:2")
        log.append({"key": "qa:3", "error": None})
    lines = (tmp_path / "items.jsonl").read_text(encoding="utf-8").splitlines()
    assert [line[:16] for line in lines] == ['{"key": "qa:1", ', '{"key": "qa:3", ']


def test_another_configuration_is_refused_unless_fresh(tmp_path):
    with ItemLog(tmp_path, "fp1", {}) as log:
        log.append({"key": "qa:1", "error": None})
    with pytest.raises(RunFolderError, match="another configuration.*--fresh"):
        ItemLog(tmp_path, "fp2", {})
    with ItemLog(tmp_path, "fp2", {}, fresh=True) as log:
        assert not log.done("qa:1")
