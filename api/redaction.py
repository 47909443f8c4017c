"""Server details kept out of what clients read: data paths, internal URLs, other processes.

Messages of the library name everything an operator needs (the data folder, the model server's URL,
the PID holding a lock). Clients get the same message with those details replaced by what they
stand for; the full text goes to the server log under the request id, for the admins.
"""

from __future__ import annotations

import logging
import re

from rag.backends import ModelError
from rag.backends.base import MODEL_SERVER
from rag.settings import Settings
from rag.store import StoreLockedError

from api.secret_scrub import scrub_secrets

log = logging.getLogger("api.redaction")

URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"()<>]+")
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/<])/(?:[^\s'\"/]+/)+([^\s'\"/]+)")


def redact(text: str, settings: Settings) -> str:
    """``text`` without the data folder's path (``VERIRAG_DATA_DIR/…``), without any URL (a remote store
    or model server) and with any other absolute path cut to its file name (``…/model.gguf``)."""
    for path in sorted({str(settings.data_dir), str(settings.data_dir.resolve())}, key=len, reverse=True):
        text = text.replace(path, "VERIRAG_DATA_DIR")
    text = URL.sub("<server URL>", text)
    return ABSOLUTE_PATH.sub(r"…/\1", text)


def redact_model_error(error: BaseException) -> BaseException:
    """The same error, its message without the model server's URL and without any secret its reply
    quoted (a server that echoes the key it was sent); the full message is logged first (the log
    scrubs its secrets)."""
    if not isinstance(error, ModelError) or not error.base_url:
        return error
    message = str(error)
    public = scrub_secrets(URL.sub(MODEL_SERVER, error.without_url()))
    if public != message:
        log.warning("model error (shown to the client without its URL): %s", message)
        error.message = public
        error.args = (public, *error.args[1:])
    return error


def public_lock_error(error: StoreLockedError, collection: str) -> StoreLockedError:
    """A collection held by another process, without that process's PID and command line (logged)."""
    log.warning("collection %r is locked: %s", collection, error)
    return StoreLockedError(
        f"collection {collection!r} is in use by another process (the server log names it). Only one "
        "process may open an embedded collection: wait for it to finish or stop it, or run the server "
        "against a Qdrant server (VERIRAG_QDRANT_URL) to share a collection."
    )
