"""The API's own settings: ``VERIRAG_API_*`` environment variables, then ``verirag serve`` flags.

Everything else (data directory, default collection, default model, the store) comes from
:class:`rag.settings.Settings`. These live apart because rag must not know about the HTTP service.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
# Empty (no hook), an http(s) URL, or a Python entry point package.module:attr.
MODERATION_PATTERN = r"^(|https?://\S+|[A-Za-z_][\w.]*:[A-Za-z_][\w.]*)$"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of them; False for 0.0.0.0 and real interfaces."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiSettings(BaseSettings):
    # validate_by_name: jobs_url is read from VERIRAG_JOBS_URL (its alias) but passed by name in code and tests.
    model_config = SettingsConfigDict(env_prefix="VERIRAG_API_", extra="forbid", validate_default=True,
                                      validate_by_name=True, validate_by_alias=True)

    host: str = Field("127.0.0.1", description="Interface to listen on. Non-loopback needs at least one API key.")
    port: int = Field(8000, ge=1, le=65535)
    # Without keys the server refuses every /v1 request unless this is on: then it serves loopback
    # clients only (see api.open_mode), so revoking the last key never opens a server by accident.
    open: bool = Field(False, description="Serve loopback clients without a key while no key exists.")

    # Request bounds. The JSON body limit covers every route but uploads, which get
    # max_upload_files × max_upload_mb (plus multipart framing).
    max_body_kb: int = Field(256, ge=1, description="Largest JSON request body.")
    max_question_chars: int = Field(4000, ge=1, description="Longest question (or last chat message).")
    max_top_k: int = Field(50, ge=1, le=1000, description="Most passages one request may retrieve.")
    max_history_messages: int = Field(40, ge=0, description="Most earlier chat turns sent with a question.")
    max_upload_mb: float = Field(25.0, gt=0, description="Largest uploaded file.")
    max_upload_files: int = Field(20, ge=1, description="Most files in one upload request.")

    # Per-key token bucket: refills at rate_limit_per_minute, holds at most rate_limit_burst.
    rate_limit_per_minute: float = Field(120.0, ge=0, description="Requests per minute per key (0: no limit).")
    rate_limit_burst: int = Field(30, ge=1, description="Requests a key may send at once after being idle.")
    # Per client address, failed authentications only (api.ratelimit.FailedAuthThrottle; used by api.deps).
    auth_failures_per_minute: float = Field(10.0, ge=0, description="Bad keys an address may send a minute (0: no limit).")
    auth_failures_burst: int = Field(30, ge=1, description="Bad keys an address may send at once.")

    # Each stage of a question has its own deadline; a stage past it ends the request with 504.
    retrieve_timeout_s: float = Field(15.0, gt=0)
    generate_timeout_s: float = Field(300.0, gt=0)
    verify_timeout_s: float = Field(120.0, gt=0)

    worker_threads: int = Field(16, ge=1, le=256,
                                description="Threads that run retrieval, /v1/verify and store reads.")
    # Questions being answered (generation and its verification) run on their own threads, so
    # saturated generation never delays retrieval; over either limit a question is refused (429).
    max_generations: int = Field(8, ge=1, le=256, description="Questions answered at once, all keys together.")
    max_generations_per_key: int = Field(4, ge=1, le=256, description="Questions answered at once per key.")
    # Each embedded collection open in this process holds its own threads: a bound on how many may be open.
    max_open_collections: int = Field(32, ge=1, le=4096, description="Collections this process may hold open.")
    # Concurrent questions share one embedding call: up to this many per batch.
    query_batch_max: int = Field(16, ge=1, le=256)

    audit_reasoning: bool = Field(False, description="Also write the model's reasoning into the audit log.")
    # Logs keep what users asked for as long as the operator keeps logs; responses are never redacted.
    log_redaction: Literal["off", "pii"] = Field(
        "pii", description="Replace e-mails, phones, cards, IBANs and national ids in logged questions and "
                           "answers by <KIND> (pii), or log them as written (off). Secrets are never logged.")
    job_max_attempts: int = Field(3, ge=1, description="Restarts an interrupted ingest job survives before it is failed.")
    # Replicated deployments (api.state_db, docs/deploy.md): jobs, keys, usage and the audit log in one
    # PostgreSQL database that every replica shares; unset, each lives in SQLite under the data directory.
    jobs_url: str | None = Field(
        None, validation_alias="VERIRAG_JOBS_URL",
        description="postgresql://user:password@host:5432/db holding the state every API replica shares (unset: SQLite).")
    # Replicas must read each other's uploads: point this at one shared volume (NFS, a ReadWriteMany claim).
    uploads_dir: Path | None = Field(
        None, description="Folder for uploaded files awaiting ingestion (unset: <data_dir>/api/uploads).")
    job_lease_s: float = Field(
        60.0, ge=1, le=3600,
        description="How long a worker's claim on a running job holds without renewal; a dead replica's job "
                    "is taken over after it.")
    readiness_cache_s: float = Field(5.0, ge=0, description="How long /readyz reuses its last checks.")
    # Conversations (api.conversations): the sources and turns of a conversation id, kept with the job state.
    conversation_ttl_s: float = Field(
        86400.0, gt=0, description="How long a conversation is kept after its last question.")
    # The moderation hook (api.moderation) checks each question before retrieval and each answer before it
    # is returned. Unset: everything passes. A hook that fails or times out refuses (503) unless
    # moderation_on_error is "allow": a policy that silently stops applying is worse than an outage.
    moderation: str | None = Field(
        None, pattern=MODERATION_PATTERN,
        description="Moderation hook: package.module:attr (Python) or an http(s) URL (callback); unset: none.")
    moderation_timeout_s: float = Field(5.0, gt=0, le=300, description="Longest one moderation check may take.")
    moderation_on_error: Literal["refuse", "allow"] = Field(
        "refuse", description="When the hook fails or times out: refuse the request (503) or let it through.")
    # Daily budgets per key from each answer's usage (UTC days); a key's own quota (keys create
    # --quota-tokens/--quota-cost, keys quota) wins over these. 0: unlimited.
    quota_tokens_per_day: int = Field(0, ge=0, description="Prompt + completion tokens per key per UTC day (0: none).")
    quota_cost_usd_per_day: float = Field(0.0, ge=0, description="Estimated USD per key per UTC day (0: no limit).")

    @property
    def max_body_bytes(self) -> int:
        return self.max_body_kb * 1024

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_upload_body_bytes(self) -> int:
        return self.max_upload_files * (self.max_upload_bytes + 64 * 1024) + self.max_body_bytes

    @property
    def stage_timeouts(self) -> dict[str, float]:
        return {
            "retrieval": self.retrieve_timeout_s,
            "generation": self.generate_timeout_s,
            "verification": self.verify_timeout_s,
        }

    def with_overrides(self, **overrides) -> "ApiSettings":
        given = {key: value for key, value in overrides.items() if value is not None}
        return self.model_validate({**self.model_dump(), **given}) if given else self
