"""The audit log: one JSON line per question, retrieval, upload and deletion, appended, never rewritten.

Each line: time (UTC), request id, action, key id, collection, and per action the question, the
ids of the sources the model was given, the labels it cited, the model and the verdict label (or,
for a question that failed, the error). The
reasoning trace is written only with VERIRAG_API_AUDIT_REASONING=true: traces can quote whole
documents. The file is opened in append mode (O_APPEND), so concurrent writers never interleave
within a line and nothing already written is touched. The file is 0600 (questions can quote
confidential text).

Refusals are audited too (action ``denied``: every 401 and 403, with the client's address, the route,
the status and the id of the key presented, never its secret). Each line carries the server's request
id; a client's own X-Request-ID, when it sent a plain one, is kept apart as ``client_request_id``.

No line holds a secret: every string is scrubbed (api.secret_scrub) before it is written. With
VERIRAG_API_LOG_REDACTION=pii (the default) the user's text in a line (:data:`USER_TEXT_FIELDS`: the
question, an answer, the reasoning, chat messages, a moderation hook's reason) has its e-mail addresses,
phone numbers, card numbers, IBANs and national ids replaced by ``<KIND>`` (api.pii).

Replicas write one shared log instead (``VERIRAG_JOBS_URL``, api.state_db): each line becomes a row of
the ``audit_log`` table, its JSON text unchanged, numbered in the order the database received it.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, select
from sqlalchemy.engine import Engine

from api.files import private_dir, private_file
from api.logs import current_client_request_id, current_request_id
from api.pii import LogRedaction, redact_log_text
from api.secret_scrub import scrub_value
from api.state_db import create_tables, reader

# Fields that hold what a user or a model wrote; every other field is the service's own (ids, labels).
USER_TEXT_FIELDS = ("question", "answer", "reasoning", "messages", "history", "reason")

METADATA = MetaData()
AUDIT_LOG = Table(
    "audit_log", METADATA,
    # BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("time", String, nullable=False),
    Column("action", String, nullable=False),
    Column("key_id", String),
    Column("collection", Text),
    Column("line", Text, nullable=False),  # the whole entry, as the JSONL file would hold it
)  # fmt: skip


class AuditLog:
    """Appends to the file ``path`` (one process), or to the shared ``engine``'s audit_log table (replicas)."""

    def __init__(self, path: Path | None, include_reasoning: bool = False, redaction: LogRedaction = "pii",
                 engine: Engine | None = None):
        self.include_reasoning = include_reasoning
        self.redaction = redaction
        self.engine = engine
        self._reader = reader(engine) if engine is not None else None
        self._lock = threading.Lock()
        self._file = None
        self.path = None if engine is not None else path
        if engine is not None:
            create_tables(engine, METADATA)
        else:
            if path is None:
                raise ValueError("an audit log needs a file (path) or a shared database (engine)")
            private_dir(path.parent)
            self._file = open(private_file(path), "a", encoding="utf-8")

    def record(self, action: str, key_id: str, collection: str | None, **fields: Any) -> None:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "request_id": current_request_id(),
            **({"client_request_id": client_id} if (client_id := current_client_request_id()) else {}),
            "action": action,
            "key_id": key_id,
            "collection": collection,
            **fields,
        }
        if not self.include_reasoning:
            entry.pop("reasoning", None)
        for name in USER_TEXT_FIELDS:
            if name in entry:
                entry[name] = redact_log_text(entry[name], self.redaction)
        entry = scrub_value(entry)
        line = json.dumps(entry, ensure_ascii=False)
        if self.engine is not None:
            with self.engine.begin() as db:
                db.execute(AUDIT_LOG.insert().values(time=entry["time"], action=str(action), key_id=entry["key_id"],
                                                     collection=entry["collection"], line=line))
            return
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def entries(self) -> list[dict]:
        """Every entry written so far, oldest first, from the file or the shared table."""
        if self.engine is not None:
            with self._reader.connect() as db:
                lines = db.execute(select(AUDIT_LOG.c.line).order_by(AUDIT_LOG.c.id)).scalars().all()
        else:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def record_answer(self, action: str, key_id: str, collection: str, result: Any) -> None:
        """An answered question: what was asked, what it was answered from, what the verifier said."""
        self.record(
            action, key_id, collection,
            question=result.question,
            sources=[passage.doc_id for passage in result.passages],
            cited=[citation.label for citation in result.citations],
            model=result.model,
            verdict=result.verdict.label if result.verdict is not None else None,
            reasoning=result.reasoning,
        )  # fmt: skip

    def record_denied(self, key_id: str | None, client: str, method: str, route: str, status: int,
                      collection: str | None = None) -> None:
        """A 401 or 403: who asked (the presented key's public id, if the key was shaped like one),
        from where, for what."""
        self.record("denied", key_id, collection, client=client, method=method, route=route, status=status)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
