"""Reading and checking records: every error names the file, the line (or row) and the field."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from eval.dataset import DatasetError


def where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; a line that is not a JSON object is an error."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from error
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(
                    f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno}); "
                    "each line must be one JSON object"
                ) from error
            if not isinstance(record, dict):
                raise DatasetError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            yield number, record


def read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from error


def first_record(path: Path) -> dict | None:
    """The first JSON object of a JSONL file, or None when the file is empty or not JSONL."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    return record if isinstance(record, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return None


def record_id(record: Mapping, path: Path, line: int | None, keys: tuple[str, ...] = ("id",)) -> str:
    for key in keys:
        value = record.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value)
    raise DatasetError(f"{where(path, line)}: field {keys[0]!r} is missing or empty; every record needs an id")


def required_str(record: Mapping, key: str, path: Path, line: int | None, *, allow_empty: bool = False) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        got = "missing" if key not in record else f"{type(value).__name__} {value!r}"[:80]
        raise DatasetError(f"{where(path, line)}: field {key!r} must be a string, got {got}")
    if not allow_empty and not value.strip():
        raise DatasetError(f"{where(path, line)}: field {key!r} is empty")
    return value


def optional_str(record: Mapping, key: str, path: Path, line: int | None) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DatasetError(
            f"{where(path, line)}: field {key!r} must be a string or null, got {type(value).__name__} {value!r}"[:200]
        )
    return value


def str_list(record: Mapping, key: str, path: Path, line: int | None, *, ids: bool = False) -> list[str]:
    """A list of strings (of strings or integers when ``ids``); missing or null is an empty list."""
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DatasetError(
            f"{where(path, line)}: field {key!r} must be a list of strings, got {type(value).__name__}"
        )
    allowed = (str, int) if ids else (str,)
    for index, element in enumerate(value):
        if not isinstance(element, allowed) or isinstance(element, bool):
            raise DatasetError(
                f"{where(path, line)}: field {key!r}[{index}] must be a string, got {type(element).__name__} "
                f"{element!r}"[:200]
            )
    return [str(element) for element in value]


def optional_bool(record: Mapping, key: str, path: Path, line: int | None) -> bool | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise DatasetError(f"{where(path, line)}: field {key!r} must be true or false, got {value!r}"[:200])
    return value


def list_cell(text: str, key: str, path: Path, row: int) -> list[str]:
    """A CSV cell holding a list: JSON (``["a", "b"]``) or the Python repr ragas' to_csv writes."""
    text = text.strip()
    if not text:
        return []
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        break
    raise DatasetError(
        f"{path}:{row}: column {key!r} must hold a list of strings (JSON like [\"a\", \"b\"]), got {text[:80]!r}"
    )


def check_unique(ids: list[tuple[str, int | None]], path: Path) -> None:
    seen: dict[str, int | None] = {}
    for item_id, line in ids:
        if item_id in seen:
            raise DatasetError(
                f"{where(path, line)}: id {item_id!r} is used twice (first at line {seen[item_id]}); ids must be unique"
            )
        seen[item_id] = line
