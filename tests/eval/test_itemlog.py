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


def test_discarded_items_are_gone_for_good_and_appending_goes_on(tmp_path):
    with ItemLog(tmp_path, "fp1", {}) as log:
        for key in ("retrieval:1", "retrieval:2", "verifier:1"):
            log.append({"key": key, "error": None})
        assert log.discard(["retrieval:1", "retrieval:2", "retrieval:9"]) == 2
        assert not log.done("retrieval:1") and log.done("verifier:1") and log.discard(["retrieval:1"]) == 0
        log.append({"key": "retrieval:1", "answer": "again", "error": None})
    with ItemLog(tmp_path, "fp1", {}) as log:
        assert sorted(log.records) == ["retrieval:1", "verifier:1"] and log.records["retrieval:1"]["answer"] == "again"
    assert not (tmp_path / "items.tmp").exists()
