"""A real PostgreSQL server for tests: ``initdb`` and ``pg_ctl`` from Debian's ``postgresql`` package
(scripts/install_postgres.sh) in a temporary folder, listening on a free loopback port, stopped at the end.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the ``postgres`` user the
Debian package creates (``runuser -u postgres``), in a folder handed to that user. Trust authentication on
loopback only: the server exists for the length of a test session and holds nothing else."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Self

from tests.support.verirag_serve import free_port

SERVICE_USER = "postgres"
SUPERUSER = "verirag"


class PostgresUnavailable(RuntimeError):
    """Why no server can be started here (the tests skip with it)."""


def server_binaries() -> Path:
    """The folder holding initdb and pg_ctl: VERIRAG_PG_BIN, else PATH, else the newest Debian version."""
    named = os.environ.get("VERIRAG_PG_BIN")
    if named:
        if not (Path(named) / "initdb").exists():
            raise PostgresUnavailable(f"VERIRAG_PG_BIN={named} holds no initdb")
        return Path(named)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PostgresUnavailable("PostgreSQL's server is not installed (no initdb): run scripts/install_postgres.sh "
                                  "or set VERIRAG_PG_BIN")
    return Path(found[-1]).parent


class PostgresServer:
    """``with PostgresServer() as server``: ``server.url`` (its ``postgres`` database), ``server.new_database()``."""

    def __init__(self):
        self.bin = server_binaries()
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                self.owner = pwd.getpwnam(SERVICE_USER)
            except KeyError:
                raise PostgresUnavailable(f"running as root and there is no {SERVICE_USER!r} user to run "
                                          "PostgreSQL as (Debian's postgresql package creates it)") from None
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root and runuser is missing (util-linux)")
            self.as_user = ["runuser", "-u", SERVICE_USER, "--"]
        # Under /tmp, not pytest's tmp_path: that one's parents are private to root, so postgres could not enter.
        self.root = Path(tempfile.mkdtemp(prefix="verirag-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._started = False

    @property
    def url(self) -> str:
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> Self:
        if self.as_user:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        try:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "120", "start")
        except PostgresUnavailable:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        self._started = True
        return self

    def new_database(self) -> str:
        """A fresh, empty database; its URL. Each test gets its own: no state leaks between tests."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def __exit__(self, *exc: object) -> None:
        if self._started:
            subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                            "stop"], capture_output=True, timeout=120, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True,
                                timeout=180, check=False)
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(f"{tool} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n{tail}")
