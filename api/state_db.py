"""The database that holds the API's shared state (jobs, keys, usage, the audit log, conversations).

One API process keeps each kind of state in its own SQLite file under ``<data_dir>/api/`` (the
embedded default: nothing to run). Replicas behind a load balancer must see one state, so with
``VERIRAG_JOBS_URL=postgresql://user:password@host:5432/db`` every kind lives in that one PostgreSQL
database instead, and any replica can accept an upload, run it, or answer for it.

:func:`engine_for` is the one door: it gives a SQLAlchemy :class:`~sqlalchemy.engine.Engine` for a URL
(or the SQLite file ``name`` under the data directory when the URL is None). Stores write portable
SQLAlchemy Core; where the two dialects differ (row locking for a job claim), :func:`is_postgres` says
which one is in use. Each SQLite transaction that may write starts with ``BEGIN IMMEDIATE``, so a
read-then-write transaction is serialised instead of failing half-way; reads go through
:func:`reader` (autocommitted statements: in WAL mode they never wait for a writer). PostgreSQL runs at
READ COMMITTED and stores lock what they change (``SELECT ... FOR UPDATE SKIP LOCKED`` for a job claim).

Engines are cached per database: every store of a process shares one PostgreSQL connection pool.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from sqlalchemy import MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from api.files import private_dir, private_file

POSTGRES_SCHEMES = ("postgresql", "postgres")
SQLITE_BUSY_TIMEOUT_S = 30.0
# Connections each replica keeps to PostgreSQL: request threads (keys, usage, audit) plus the job worker.
POSTGRES_POOL_SIZE = 10
POSTGRES_POOL_OVERFLOW = 20
# SQLite connections kept open per file: opening one costs more than the query (pragmas, file checks).
SQLITE_POOL_SIZE = 4
SQLITE_POOL_OVERFLOW = 16
_READ_ONLY = "verirag_read_only"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class StateDatabaseError(ValueError):
    """A state-database URL that cannot be used, with what to do about it."""


def sqlite_path(data_dir: Path, name: str) -> Path:
    """Where the embedded default keeps ``name``: ``<data_dir>/api/<name>.sqlite3``."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise StateDatabaseError(f"a state database name is letters, digits, '-' and '_', got {name!r}")
    return Path(data_dir) / "api" / f"{name}.sqlite3"


def engine_for(url: str | None, data_dir: Path, name: str) -> Engine:
    """The engine that holds the state called ``name`` (``jobs``, ``keys``, ``usage``, ...).

    ``url`` None or empty: the SQLite file :func:`sqlite_path` (created 0600 in a 0700 folder: it names
    keys, documents and questions). ``url`` ``postgresql://…`` (or ``postgres://``): that database, for
    every ``name`` alike (tables of different states never share a name). The same arguments give the
    same engine for the life of the process; :func:`dispose_all` closes them."""
    if url:
        return _cached(_postgres_url(url), _postgres_engine)
    return sqlite_engine(sqlite_path(data_dir, name))


def sqlite_engine(path: Path) -> Engine:
    """The engine of the SQLite file ``path`` (created 0600, its folder 0700), one per file per process."""
    path = Path(path)
    private_dir(path.parent)  # every time: tightens a file an older version made, recreates a removed one
    private_file(path)
    return _cached(str(path.resolve()), _sqlite_engine)


def engine_from(source: Path | Engine) -> Engine:
    """A store's argument, either a ready engine (shared state) or the path of its own SQLite file."""
    return source if isinstance(source, Engine) else sqlite_engine(Path(source))


def database_path(engine: Engine) -> Path | None:
    """The file behind a SQLite engine; None for a server database."""
    return Path(engine.url.database) if engine.dialect.name == "sqlite" and engine.url.database else None


def reader(engine: Engine) -> Engine:
    """The same database for transactions that only read: on SQLite they take no write lock."""
    return engine.execution_options(**{_READ_ONLY: True})


def release(engine: Engine) -> None:
    """Close the idle connections a store's engine holds (a store's close(); used again, it reconnects)."""
    engine.dispose()


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def describe(engine: Engine) -> str:
    """The database for messages and logs, without its password."""
    return engine.url.render_as_string(hide_password=True)


def create_tables(engine: Engine, metadata: MetaData) -> None:
    """Create ``metadata``'s missing tables and indexes, and add the columns a table made by an older version
    lacks (every column added later must be nullable or have a server default). Replicas that start together
    take turns (an advisory lock): PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against itself."""
    with engine.begin() as connection:
        if is_postgres(engine):
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(metadata)})
        metadata.create_all(connection)
        inspector = inspect(connection)
        for table in metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(dialect=engine.dialect)
                    connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


class StateTables:
    """A store whose tables (``METADATA``) live in the shared-state database: ``source`` is its own SQLite
    file or an engine from :func:`engine_for`. ``path`` is the SQLite file (None on PostgreSQL); reads go
    through ``_reader`` so that they take no write lock on SQLite. Safe to share between threads."""

    METADATA: MetaData

    def __init__(self, source: Path | Engine):
        self.engine = engine_from(source)
        self._reader = reader(self.engine)
        self.path = database_path(self.engine)
        create_tables(self.engine, self.METADATA)

    def close(self) -> None:
        release(self.engine)


def dispose_all() -> None:
    """Close every cached engine's connections (tests; a process that forks)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


# -- internals -----------------------------------------------------------------------------------------
def _cached(key: str, build) -> Engine:
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = build(key)
        return engine


def _postgres_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StateDatabaseError(
            f"VERIRAG_JOBS_URL is not a database URL ({url.split('@')[-1]!r}); it reads "
            "postgresql://user:password@host:5432/database"
        ) from None
    scheme, _, driver = parsed.drivername.partition("+")
    if scheme not in POSTGRES_SCHEMES:
        raise StateDatabaseError(
            f"VERIRAG_JOBS_URL must be a PostgreSQL URL (postgresql://user:password@host:5432/database), "
            f"got the scheme {parsed.drivername!r}; leave it unset to keep the state in SQLite under the data directory"
        )
    if driver and driver != "psycopg":
        raise StateDatabaseError(f"VERIRAG_JOBS_URL: verirag talks to PostgreSQL through psycopg 3; use "
                                 f"postgresql:// or postgresql+psycopg://, not {parsed.drivername!r}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _postgres_engine(url: str) -> Engine:
    try:
        import psycopg  # noqa: F401  (the driver SQLAlchemy loads; checked here for a clearer message)
    except ImportError:
        raise StateDatabaseError(
            "VERIRAG_JOBS_URL names a PostgreSQL database, but its driver is not installed: "
            "pip install 'verirag[postgres]'"
        ) from None
    # pre_ping: a replica outlives database restarts and fail-overs without serving one failed request each.
    return create_engine(url, pool_size=POSTGRES_POOL_SIZE, max_overflow=POSTGRES_POOL_OVERFLOW,
                         pool_pre_ping=True, isolation_level="READ COMMITTED")


def _sqlite_engine(path_text: str) -> Engine:
    path = Path(path_text)
    # A pool of connections, each used by one thread at a time (check_same_thread off for the hand-over):
    # the stores need no lock of their own.
    engine = create_engine(f"sqlite:///{path}", pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_OVERFLOW,
                           connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver's own implicit BEGIN would defer the lock
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if companion.exists():  # new ones take the table's mode; an older version's may be looser
                os.chmod(companion, 0o600)

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        # Reads run as single autocommitted statements: no transaction to open or close, no lock to wait for.
        if not connection.get_execution_options().get(_READ_ONLY, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _lock_key(metadata: MetaData) -> int:
    names = ",".join(sorted(metadata.tables))
    return int.from_bytes(hashlib.sha256(names.encode()).digest()[:8], "big", signed=True)
