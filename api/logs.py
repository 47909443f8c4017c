"""Structured logs: one JSON object a line, each carrying the id of the request it belongs to.

The request id lives in a context variable set by the middleware; work handed to threads runs in
a copy of the context (see api.stages), so log lines written there carry it too.

No line holds a secret: every string of it is scrubbed (api.secret_scrub) by the formatter, whoever
logged it. With ``VERIRAG_API_LOG_REDACTION=pii`` the formatter also redacts personal data (api.pii)
from the free text of a line, its message and its exception, where a question quoted by an error can
end up; the structured fields (route, status, ids) are left as they are.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import TextIO

from api.pii import LogRedaction, redact_log_text
from api.secret_scrub import scrub_value

REQUEST_ID_HEADER = "x-request-id"
# A client's X-Request-ID is kept (as client_request_id, for correlating with the client's own logs)
# only when it is short and plain: spaces, quotes or newlines could forge log lines.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

_request_id: ContextVar[str | None] = ContextVar("verirag_request_id", default=None)
_client_request_id: ContextVar[str | None] = ContextVar("verirag_client_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def current_client_request_id() -> str | None:
    return _client_request_id.get()


def set_request_ids(request_id: str | None, client_request_id: str | None = None):
    """Both ids for the current context; the returned token goes to :func:`reset_request_ids`."""
    return _request_id.set(request_id), _client_request_id.set(client_request_id)


def reset_request_ids(tokens) -> None:
    request_token, client_token = tokens
    _client_request_id.reset(client_token)
    _request_id.reset(request_token)


def new_request_id() -> str:
    """Always the server's own: a client-chosen id would let two requests share one audit id."""
    return uuid.uuid4().hex


def client_request_id_from(header_value: str | None) -> str | None:
    """The client's X-Request-ID when it is plain enough to log, else None."""
    if header_value and _CLIENT_REQUEST_ID.match(header_value):
        return header_value
    return None


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", …fields}``; ``extra={"fields": {...}}``
    adds keys, an exception adds its traceback as ``exception``. Secrets are always scrubbed; personal
    data in the message and the exception under ``redaction="pii"``."""

    def __init__(self, redaction: LogRedaction = "off"):
        super().__init__()
        self.redaction = redaction

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        client_request_id = current_client_request_id()
        if client_request_id and request_id == current_request_id():
            entry["client_request_id"] = client_request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for free_text in ("message", "exception"):
            if free_text in entry:
                entry[free_text] = redact_log_text(entry[free_text], self.redaction)
        return json.dumps(scrub_value(entry), ensure_ascii=False, default=str)


def configure_json_logging(level: str = "info", redaction: LogRedaction = "off", stream: TextIO | None = None) -> None:
    """Route every logger (uvicorn's included) through one JSON handler on ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redaction))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The access log is written by api.middleware (with the request id, key and latency).
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "sentence_transformers", "unstructured", "pdfminer", "pikepdf", "transformers"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
