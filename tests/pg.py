"""A real, throw-away PostgreSQL server for tests: ``initdb`` in a temporary folder, then
``postgres`` on a free loopback port (as ``nobody`` when the tests run as root, since
PostgreSQL refuses to run as root), one database created, everything removed at the end.
``halt``/``restart`` take the server away and bring it back with its data; ``execute`` runs
statements as the superuser (new databases, roles, grants)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

UNPRIVILEGED_USER = "nobody"
READY_SECONDS = 30


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``postgres`` (newest version first), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda p: [int(x) for x in Path(p).parent.name.split(".")
                                       if x.isdigit()], reverse=True)
    which = shutil.which("postgres")
    if which:
        candidates.append(str(Path(which).parent))
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """Start with ``start()``, which returns the URL of a fresh database; ``stop()``."""

    def __init__(self, binaries: Path, database: str = "sweeps") -> None:
        self.binaries, self.database = binaries, database
        self.root = Path(tempfile.mkdtemp(prefix="mlp-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self._as = ["runuser", "-u", UNPRIVILEGED_USER, "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def url_of(self, database: str, user: str = "postgres", password: str = "") -> str:
        """The URL of ``database`` as ``user`` (any password is accepted: trust)."""
        login = f"{user}:{password}" if password else user
        return f"postgresql://{login}@127.0.0.1:{self.port}/{database}"

    def start(self) -> str:
        if self._as:
            shutil.chown(self.root, UNPRIVILEGED_USER)
        subprocess.run([*self._as, str(self.binaries / "initdb"), "-D", str(self.data),
                        "-U", "postgres", "-A", "trust", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        self._launch()
        self.execute(f"CREATE DATABASE {self.database}")
        return self.url

    def _launch(self) -> None:
        self.process = subprocess.Popen(
            [*self._as, str(self.binaries / "postgres"), "-D", str(self.data), "-k",
             str(self.root), "-p", str(self.port), "-h", "127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()

    def execute(self, *statements: str, database: str = "postgres") -> list[tuple]:
        """Run ``statements`` in ``database`` as the superuser (autocommit); the rows of the
        last one that returns rows."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                      dbname=database)
        connection.autocommit = True
        rows: list[tuple] = []
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                    if cursor.description is not None:
                        rows = cursor.fetchall()
        finally:
            connection.close()
        return rows

    def halt(self) -> None:
        """Stop the server at once (as a crash or a lost network does), keeping its data."""
        subprocess.run([*self._as, str(self.binaries / "pg_ctl"), "stop", "-D", str(self.data),
                        "-m", "immediate"], capture_output=True, timeout=60)
        self.process.wait(timeout=30)

    def restart(self) -> None:
        """Start the halted server again, on the same port, with its data."""
        self._launch()

    def _wait_ready(self) -> None:
        import psycopg2

        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                 dbname="postgres", connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start on port {self.port}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            subprocess.run([*self._as, str(self.binaries / "pg_ctl"), "stop", "-D",
                            str(self.data), "-m", "immediate"], capture_output=True, timeout=60)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
