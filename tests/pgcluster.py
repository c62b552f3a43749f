"""A throwaway PostgreSQL cluster for one test (or one test session).

It is ``newsroom.localdb.Cluster`` (the same binaries, and the same run-as-
``postgres``-when-root logic as the project's own cluster) in a fresh
temporary folder, on its own unix socket, so a test can stop, crash and
restart it without disturbing anybody else's database::

    with ThrowawayCluster() as cluster:
        cluster.create_database("newsroom")
        url = cluster.url("newsroom")  # a DATABASE_URL for the app
        cluster.stop()  # or cluster.stop("immediate"): a crash
        cluster.start()
"""

import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from newsroom.localdb import DB_USER, Cluster, LocalDBError, find_bindir

__all__ = ["LocalDBError", "ThrowawayCluster", "server_binaries"]

# Durable commits (synchronous_commit on), so that "committed" means what it
# means in production even when a test crashes the server; fsync stays off:
# a crashed server (not machine) loses nothing the kernel already has.
TEST_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "on",
    "max_connections": "50",
    "shared_buffers": "16MB",
}


def server_binaries():
    """PostgreSQL's bin folder, or None when the server is not installed."""
    try:
        return find_bindir()
    except LocalDBError:
        return None


def _short_tmp():
    # A unix socket path has at most ~107 bytes; a long $TMPDIR (macOS) is
    # skipped for /tmp.
    tmp = tempfile.gettempdir()
    return tmp if len(tmp) <= 40 else "/tmp"  # noqa: S108


class ThrowawayCluster:
    """initdb into a temporary folder, start, and remove it all at the end."""

    def __init__(self, settings=None):
        self.base = Path(tempfile.mkdtemp(prefix="newsroom-pg-", dir=_short_tmp()))
        self.cluster = Cluster(
            self.base / "data",
            self.base / "run",
            settings=TEST_SETTINGS if settings is None else settings,
        )
        try:
            self.cluster.start()
        except BaseException:
            self.destroy()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.destroy()

    @property
    def socket_dir(self):
        return self.cluster.socket_dir

    def url(self, dbname):
        """DATABASE_URL for a database of this cluster."""
        return self.cluster.url(dbname)

    def client(self, name):
        """Path of a client program (pg_dump, pg_restore, psql)."""
        return str(self.cluster.client(name))

    def connect(self, dbname="postgres", **kwargs):
        """A psycopg connection (autocommit) to one of its databases."""
        return psycopg.connect(
            host=str(self.socket_dir),
            user=DB_USER,
            dbname=dbname,
            autocommit=True,
            connect_timeout=10,
            **kwargs,
        )

    def query(self, sql, params=None, dbname="postgres"):
        """Run one statement; its rows (an empty list for a command)."""
        with self.connect(dbname) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name, template=None):
        sql = f'CREATE DATABASE "{name}"'
        if template:
            sql += f' TEMPLATE "{template}"'
        self.query(sql)

    def drop_database(self, name):
        self.query(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def is_running(self):
        return self.cluster.is_running()

    def stop(self, mode="fast"):
        """Stop the server: 'fast' (an orderly restart) or 'immediate' (a crash)."""
        self.cluster.stop(mode, quiet=True)

    def start(self, timeout=60):
        """Start it again and wait until it takes connections."""
        self.cluster.start()
        self.wait_ready(timeout)

    def restart(self, pause=2.0, mode="fast"):
        self.stop(mode)
        time.sleep(pause)
        self.start()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.query("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def log_tail(self, size=3000):
        return self.cluster.log_tail(size)

    def destroy(self):
        try:
            if self.cluster.exists():
                self.cluster.stop("immediate", quiet=True)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
