"""The run folder's memory: ``run.json`` (what the run is) and ``items.jsonl`` (one line per finished item).

Every evaluated item is appended and flushed at once, so a run stopped at any moment (Ctrl-C, a crash,
a model that stays down) keeps what it finished, and the next run with the same configuration skips
those items. A line cut short by a kill is dropped when the log is opened. Items recorded with an
``error`` are not done: the next run tries them again. A folder that holds a run of another
configuration is refused rather than mixed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

RUN_FILE = "run.json"
ITEMS_FILE = "items.jsonl"


class RunFolderError(RuntimeError):
    """The output folder cannot be used for this run."""


class ItemLog:
    def __init__(self, folder: Path, fingerprint: str, config: dict[str, Any], fresh: bool = False):
        self.folder = folder
        self.items_path = folder / ITEMS_FILE
        self.run_path = folder / RUN_FILE
        folder.mkdir(parents=True, exist_ok=True)
        if fresh:
            for path in (self.items_path, self.run_path):
                path.unlink(missing_ok=True)
        self._claim(fingerprint, config)
        self.records: dict[str, dict] = self._read()
        self._handle = open(self.items_path, "a", encoding="utf-8")

    def _claim(self, fingerprint: str, config: dict[str, Any]) -> None:
        if self.run_path.exists():
            try:
                held = json.loads(self.run_path.read_text(encoding="utf-8")).get("fingerprint")
            except (OSError, json.JSONDecodeError) as error:
                raise RunFolderError(f"{self.run_path}: unreadable ({error}); delete the folder or use --fresh") from error
            if held != fingerprint:
                raise RunFolderError(
                    f"{self.folder} holds a run of another configuration (fingerprint {held}, this run {fingerprint}); "
                    "use another --out, or --fresh to discard it"
                )
            return
        if self.items_path.exists() and self.items_path.stat().st_size:
            raise RunFolderError(f"{self.items_path} exists without {RUN_FILE}; use another --out, or --fresh to discard it")
        _write_json(self.run_path, {"fingerprint": fingerprint, "config": config})

    def _read(self) -> dict[str, dict]:
        """Last record per key; a torn last line (killed mid-write) is cut off the file."""
        records: dict[str, dict] = {}
        if not self.items_path.exists():
            return records
        good_end = 0
        with open(self.items_path, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError:
                    break
                records[record["key"]] = record
                good_end += len(raw)
        if good_end != self.items_path.stat().st_size:
            with open(self.items_path, "r+b") as handle:
                handle.truncate(good_end)
        return records

    def done(self, key: str) -> bool:
        record = self.records.get(key)
        return record is not None and not record.get("error")

    def append(self, record: dict) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.records[record["key"]] = record

    def discard(self, keys: Iterable[str]) -> int:
        """Forget these items for good (they are evaluated again): ``items.jsonl`` is rewritten
        without them and swapped in atomically, so a kill at any moment leaves either the old file or
        the new one. Returns how many were held."""
        doomed = {key for key in keys if key in self.records}
        if not doomed:
            return 0
        self._handle.close()
        kept = [record for key, record in self.records.items() if key not in doomed]
        temporary = self.items_path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            for record in kept:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.items_path)
        self.records = {record["key"]: record for record in kept}
        self._handle = open(self.items_path, "a", encoding="utf-8")
        return len(doomed)

    def selected(self, keys: Iterable[str]) -> list[dict]:
        return [self.records[key] for key in keys if key in self.records]

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "ItemLog":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    temporary.replace(path)
