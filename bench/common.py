"""What the benchmark scripts share: paths, the bench database, progress lines.

Standard library only (plus psycopg, which the project depends on), so that
``bench/run.py`` can use it before Django is set up.
"""

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# Git-ignored: generated photos, the URL list, collected results, profiles.
DATA = BENCH / ".data"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
DB_NAME = os.environ.get("BENCH_DB_NAME", "newsroom_bench")
SETTINGS = "bench.settings"

_started = time.monotonic()
_last_line = [0.0]
PROGRESS_EVERY = 5.0  # seconds between transient lines when not on a terminal


def progress(message, *, final=True):
    """One progress line.

    On a terminal, a line with ``final=False`` is overwritten by the next one;
    in a log, such lines are printed at most every ``PROGRESS_EVERY`` seconds.
    """
    now = time.monotonic()
    line = f"[{now - _started:7.1f}s] {message}"
    if sys.stdout.isatty():
        sys.stdout.write("\r\033[K" + line + ("\n" if final else ""))
    elif final or now - _last_line[0] >= PROGRESS_EVERY:
        sys.stdout.write(line + "\n")
        _last_line[0] = now
    sys.stdout.flush()


@contextlib.contextmanager
def only_one_at_a_time():
    """Refuse to run beside another benchmark or profile of this checkout.

    Both would load the same bench database and share the machine's cores,
    and each would report the other's work as its own. The lock is the
    kernel's (``flock``), so it goes with the process, however it ends.
    """
    DATA.mkdir(parents=True, exist_ok=True)
    with open(DATA / "bench.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise SystemExit(
                f"A benchmark is already running here ({holder}): wait for it "
                "to finish, or stop it, and try again."
            ) from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}: {' '.join(sys.argv)}")
        lock.flush()
        yield


def dev_database_url():
    """The dev cluster's URL: DATABASE_URL, else the project-local cluster's."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    sys.path.insert(0, str(ROOT))
    from newsroom import localdb

    localdb.start()
    return localdb.database_url()


def bench_database_url(dev_url=None):
    """The dev cluster's URL with the bench database's name."""
    parts = urlsplit(dev_url or dev_database_url())
    return urlunsplit(parts._replace(path="/" + quote(DB_NAME)))


def connect(url, **kwargs):
    """A psycopg connection from a postgres:// URL (socket folder as host)."""
    import psycopg

    parts = urlsplit(url)
    params = {
        "dbname": unquote(parts.path.lstrip("/")),
        "user": unquote(parts.username or "") or None,
        "password": unquote(parts.password or "") or None,
        "host": unquote(parts.hostname or "") or None,
        "port": parts.port,
    }
    # urlsplit lower-cases the host; a socket folder's path must keep its case.
    netloc_host = parts.netloc.rpartition("@")[2]
    if netloc_host.startswith("%2F") or netloc_host.startswith("%2f"):
        params["host"] = unquote(netloc_host.split(":")[0])
    params = {key: value for key, value in params.items() if value is not None}
    return psycopg.connect(**params, **kwargs)


def database_exists(dev_url):
    with connect(_maintenance_url(dev_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]
        ).fetchone()
    return row is not None


def create_database(dev_url, *, drop=False):
    from psycopg import sql

    with connect(_maintenance_url(dev_url), autocommit=True) as conn:
        name = sql.Identifier(DB_NAME)
        if drop:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name)
            )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def _maintenance_url(dev_url):
    parts = urlsplit(dev_url)
    return urlunsplit(parts._replace(path="/postgres", query=""))


def django_env(database_url, *, debug=False, **extra):
    """Environment for a Django process on the bench database.

    With ``debug=False`` these are production settings, with what a plain-HTTP
    loopback benchmark needs: no SSL redirect, cookies without ``Secure``.
    """
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": database_url,
            "DEBUG": "true" if debug else "false",
            "SECRET_KEY": env.get("BENCH_SECRET_KEY", "bench-" + "k" * 60),
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0",
            "NEWSLETTER_POSTAL_ADDRESS": "1 Bench Street, Loopback City",
            # One client address sends every request of the benchmark: the
            # per-address limits on signups and searches must not apply.
            "NEWSLETTER_SIGNUPS_PER_IP": "1000000000",
            "SEARCHES_PER_IP": "1000000000",
            "PYTHONPATH": str(ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LOG_LEVEL": env.get("BENCH_LOG_LEVEL", "WARNING"),
        }
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run_python(args, env, **kwargs):
    kwargs.setdefault("check", True)
    return subprocess.run([PYTHON, *args], env=env, cwd=ROOT, **kwargs)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_kib(pid):
    """VmHWM (peak resident set size) of a live process, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
