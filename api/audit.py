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
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from api.files import private_dir, private_file
from api.logs import current_client_request_id, current_request_id
from api.pii import LogRedaction, redact_log_text
from api.secret_scrub import scrub_value

# Fields that hold what a user or a model wrote; every other field is the service's own (ids, labels).
USER_TEXT_FIELDS = ("question", "answer", "reasoning", "messages", "history", "reason")


class AuditLog:
    def __init__(self, path: Path, include_reasoning: bool = False, redaction: LogRedaction = "pii"):
        self.path = path
        self.include_reasoning = include_reasoning
        self.redaction = redaction
        private_dir(path.parent)
        self._file = open(private_file(path), "a", encoding="utf-8")
        self._lock = threading.Lock()

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
        line = json.dumps(scrub_value(entry), ensure_ascii=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

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
            self._file.close()
