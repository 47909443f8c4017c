"""A real PostgreSQL server for the job tests that run replicas (tests/support/postgres_server.py)."""

from __future__ import annotations

import pytest

from tests.support.postgres_server import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres_server():
    """One server for the session; each test takes its own database (``postgres_url``)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'verirag[postgres]'")
    try:
        server = PostgresServer()
        server.__enter__()
    except PostgresUnavailable as reason:
        pytest.skip(f"no PostgreSQL server can run here: {reason}")
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.new_database()
