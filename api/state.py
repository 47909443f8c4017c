"""Everything one running API holds: settings, stores, keys, jobs, limits, logs and metrics.

Built by :func:`api.app.create_app`, started and closed by the app's lifespan, and handed to routes
through ``Depends(get_state)``. Files live under ``<data_dir>/api/``: ``keys.sqlite3``,
``jobs.sqlite3``, ``usage.sqlite3``, ``uploads/<job id>/`` and ``audit.jsonl``. With ``VERIRAG_JOBS_URL``
(replicas) the jobs, keys, usage and audit log live in that PostgreSQL database instead (api.state_db),
and uploads in ``VERIRAG_API_UPLOADS_DIR``, a folder every replica mounts.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rag.settings import Settings

from api.admission import GenerationSlots
from api.audit import AuditLog
from api.batching import BatchingQueryEmbedder
from api.config import ApiSettings, is_loopback
from api.conversations import ConversationStore
from api.files import private_dir
from api.jobs.table import JobTable
from api.jobs.uploads import remove_orphans
from api.jobs.worker import IngestWorker
from api.keys import KeyStore
from api.metrics import Metrics
from api.moderation import moderator_for
from api.moderation_gate import ModerationGate
from api.quotas import Quotas
from api.ratelimit import FailedAuthThrottle, TokenBucketLimiter
from api.registry import CollectionRegistry
from api.state_db import engine_for
from api.usage import UsageStore

log = logging.getLogger("api")
# With replicas, an upload folder appears (shared volume) a moment before its job row does (database):
# a folder is taken for the leftover of a crash only once it is this old.
SHARED_ORPHAN_AGE_S = 3600.0


def api_dir(settings: Settings) -> Path:
    return settings.data_dir / "api"


def state_engine(settings: Settings, name: str, api_settings: ApiSettings | None = None):
    """The database of the state ``name``: PostgreSQL when VERIRAG_JOBS_URL is set, else its SQLite file."""
    jobs_url = (api_settings or ApiSettings()).jobs_url
    return engine_for(jobs_url, settings.data_dir, name)


def key_store_for(settings: Settings, api_settings: ApiSettings | None = None) -> KeyStore:
    return KeyStore(state_engine(settings, "keys", api_settings))


def usage_store_for(settings: Settings, api_settings: ApiSettings | None = None) -> UsageStore:
    return UsageStore(state_engine(settings, "usage", api_settings))


class AppState:
    def __init__(self, settings: Settings, api_settings: ApiSettings, embedder: Any = None):
        self.settings = settings
        self.api_settings = api_settings
        self.loopback_only = is_loopback(api_settings.host)
        root = api_dir(settings)
        self.shared_state = api_settings.jobs_url is not None  # replicas share jobs, keys, usage and audit
        self.uploads_dir = api_settings.uploads_dir or root / "uploads"
        private_dir(self.uploads_dir)  # uploaded documents: readable by the server's user only
        self.keys = key_store_for(settings, api_settings)
        self.jobs = JobTable(state_engine(settings, "jobs", api_settings), lease_s=api_settings.job_lease_s)
        self.audit = AuditLog(root / "audit.jsonl", include_reasoning=api_settings.audit_reasoning,
                              redaction=api_settings.log_redaction,
                              engine=state_engine(settings, "audit", api_settings) if self.shared_state else None)
        # Loaded now, so a hook that cannot be imported stops the server at start, not at the first question.
        self.moderation = ModerationGate(
            moderator_for(api_settings.moderation, api_settings.moderation_timeout_s),
            api_settings.moderation_timeout_s, api_settings.moderation_on_error, self.audit,
        )
        self.usage = usage_store_for(settings, api_settings)
        self.conversations = ConversationStore(state_engine(settings, "conversations", api_settings),
                                               api_settings.conversation_ttl_s)
        self.quotas = Quotas(self.usage, api_settings.quota_tokens_per_day, api_settings.quota_cost_usd_per_day)
        self.metrics = Metrics()
        self.limiter = TokenBucketLimiter(api_settings.rate_limit_per_minute, api_settings.rate_limit_burst)
        self.auth_throttle = FailedAuthThrottle(api_settings.auth_failures_per_minute, api_settings.auth_failures_burst)
        self.executor = ThreadPoolExecutor(api_settings.worker_threads, thread_name_prefix="verirag-api")
        # Questions being answered run here, one thread per admitted question: a saturated model
        # never takes the threads retrieval and store reads need (see api.admission).
        self.generations = GenerationSlots(api_settings.max_generations, api_settings.max_generations_per_key)
        self.generation_executor = ThreadPoolExecutor(api_settings.max_generations,
                                                      thread_name_prefix="verirag-generate")
        self._given_embedder = embedder
        self._embedder: BatchingQueryEmbedder | None = None
        self._embedder_lock = threading.Lock()
        self._verifier: Any = None
        self._verifier_lock = threading.Lock()
        self.collections = CollectionRegistry(settings, self.embedder, self.verifier,
                                              max_open=api_settings.max_open_collections)
        self.worker = IngestWorker(self.jobs, self.collections, settings, self.embedder, self.uploads_dir,
                                   self.metrics, max_attempts=api_settings.job_max_attempts)
        self.readiness_cache: tuple[float, dict] | None = None
        self.model_status_cache: tuple[float, dict] | None = None  # GET /v1/models (api.readiness)
        self._users = 0
        self._users_lock = threading.Lock()

    def embedder(self) -> BatchingQueryEmbedder:
        """The shared embedder, loaded on first use (the model takes seconds to load)."""
        with self._embedder_lock:
            if self._embedder is None:
                inner = self._given_embedder
                if inner is None:
                    from rag.embedding import embedder_for

                    inner = embedder_for(self.settings)
                self._embedder = BatchingQueryEmbedder(inner, self.api_settings.query_batch_max)
            return self._embedder

    def verifier(self) -> Any:
        """The process's one ``AnswerVerifier``, built on first use: every collection's pipeline and
        ``/v1/verify`` share it, and with it its caches (evidence embeddings by text)."""
        with self._verifier_lock:
            if self._verifier is None:
                from rag.verify.verifier import verifier_for

                self._verifier = verifier_for(self.settings, self.embedder())
            return self._verifier

    def enter(self, run_worker: bool = True) -> None:
        """Start on the first lifespan that runs; later ones share the started state."""
        with self._users_lock:
            self._users += 1
            if self._users == 1:
                self.start(run_worker)

    def exit(self) -> None:
        """Close when the last lifespan ends."""
        with self._users_lock:
            self._users -= 1
            if self._users == 0:
                self.close()

    def start(self, run_worker: bool = True) -> None:
        """Recover what a previous process left, then start the ingest worker. Alone, every running job was
        this data directory's previous process's; among replicas, only those whose lease ran out are orphans
        (the other replicas' workers renew theirs)."""
        requeued, failed = self.jobs.recover_interrupted(self.api_settings.job_max_attempts,
                                                         expired_only=self.shared_state)
        for job_id in requeued:
            log.warning("ingest job %s was interrupted; resuming it", job_id)
        for job_id in failed:
            log.error("ingest job %s was interrupted too often; marked failed", job_id)
        orphan_age = SHARED_ORPHAN_AGE_S if self.shared_state else 0.0
        for folder in remove_orphans(self.uploads_dir, self.jobs.known_ids(), older_than_s=orphan_age):
            log.warning("removed %s: uploads of a request that never became a job", folder)
        self.conversations.purge_expired()  # an expired one is also dropped whenever it is asked for
        self.embedder()
        if run_worker:
            self.worker.start()

    def close(self) -> None:
        self.worker.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.generation_executor.shutdown(wait=False, cancel_futures=True)
        self.collections.close()
        if self._embedder is not None:
            self._embedder.close()
        self.jobs.close()
        self.keys.close()
        self.moderation.close()
        self.usage.close()
        self.conversations.close()
        self.audit.close()
