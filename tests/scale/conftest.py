"""The scale test's machinery: real processes on this machine.

A dedicated PostgreSQL database on the project-local cluster (created,
migrated and dropped by the test), a real ``redis-server`` on a unix socket,
an SMTP server (aiosmtpd, in a process of its own: tests/scale/smtp_sink.py)
noting every recipient, two gunicorn
instances and three ``db_worker`` processes, all with a production-like
environment (DEBUG off, hashed static files, Redis cache, SMTP email).

Tests marked ``scale`` run only when asked for: ``make test-scale``, a path
under ``tests/scale`` on the command line, ``-m scale``, or ``SCALE_TESTS=1``.
Otherwise they are set aside and the last lines of the output say so.
"""

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.cookies import SimpleCookie
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCALE_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable
GUNICORN = VENV_BIN / "gunicorn"
REDIS_SERVER = shutil.which("redis-server")


# Marker and selection ------------------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "scale: real processes (gunicorn, db_worker, redis-server, SMTP); "
        "run with make test-scale",
    )


def _scale_requested(config):
    if os.environ.get("SCALE_TESTS", "").lower() in {"1", "true", "yes", "on"}:
        return True
    markexpr = config.getoption("markexpr", "") or ""
    if re.search(r"(?<!not )\bscale\b", markexpr):
        return True
    for arg in config.args:
        path = Path(arg.split("::")[0])
        path = path if path.is_absolute() else Path(config.invocation_params.dir) / path
        with contextlib.suppress(OSError):
            if path.resolve().is_relative_to(SCALE_DIR):
                return True
    return False


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    held = [item for item in items if item.get_closest_marker("scale")]
    if not held or _scale_requested(config):
        return
    config.hook.pytest_deselected(items=held)
    items[:] = [item for item in items if item not in held]
    config._scale_not_run = len(held)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing scale test shows the end of every process's log."""
    report = yield
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and isinstance(cluster, Cluster):
        report.sections.append(("process logs", cluster.logs()))
    return report


# What the scale tests measured, printed at the end of the run.
FIGURES = {}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if FIGURES:
        terminalreporter.section("scale test figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name:<44} {value}")
    count = getattr(config, "_scale_not_run", 0)
    if count:
        terminalreporter.write_line(
            f"SCALE TESTS DID NOT RUN ({count} tests): they start real servers and "
            "take a few minutes; run make test-scale.",
            yellow=True,
            bold=True,
        )


# Small helpers --------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.05, processes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.name} exited while waiting for {what}")
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


class Process:
    """A child process with its output in a log file, stopped by its own id."""

    def __init__(self, name, args, *, env, log_dir, cwd=ROOT):
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [str(arg) for arg in args],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self):
        return self.popen.pid

    def poll(self):
        return self.popen.poll()

    def signal(self, sig=signal.SIGTERM):
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def stop(self, timeout=15):
        """Wait for the process to end (after ``signal``); kill it if it won't."""
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            # Its own process group only: the children it started, nothing else.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        self._log.close()

    def tail(self, lines=30):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(process_groups):
    """CPU time (user + system) used so far by the processes in these groups.

    Live processes count their own time and that of the children they have
    reaped (gunicorn's recycled workers), so nothing is counted twice.
    """
    groups = set(process_groups)
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # After "pid (comm)": state ppid pgrp …; utime, stime, cutime, cstime
        # are fields 14 to 17 of the whole line.
        if int(fields[2]) in groups:
            total += sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    return total


def run(args, *, env, timeout=120, what=None):
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{what or args[:3]} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


# HTTP -----------------------------------------------------------------------------


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)


class Client:
    """A browser-like client for one site: cookies, and keep-alive per instance.

    ``source`` picks the client's own loopback address (127.0.0.x), which is
    what the site sees as the client IP.
    """

    def __init__(self, source="127.0.0.1", timeout=30):
        self.source = source
        self.timeout = timeout
        self.cookies = {}
        self._connections = {}

    def request(self, method, url, data=None, headers=None):
        parts = urlsplit(url)
        key = (parts.hostname, parts.port)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body = urlencode(data, doseq=True).encode() if data is not None else None
        all_headers = {"User-Agent": "newsroom-scale-test"}
        if body is not None:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            all_headers["Cookie"] = "; ".join(
                f"{k}={v}" for k, v in self.cookies.items()
            )
        all_headers.update(headers or {})
        for attempt in range(2):
            connection = self._connections.get(key)
            if connection is None:
                connection = http.client.HTTPConnection(
                    parts.hostname,
                    parts.port,
                    timeout=self.timeout,
                    source_address=(self.source, 0),
                )
                self._connections[key] = connection
            try:
                connection.request(method, path, body=body, headers=all_headers)
                raw = connection.getresponse()
                payload = raw.read()
            except (http.client.HTTPException, ConnectionError):
                # A keep-alive connection the server closed: once more, fresh.
                connection.close()
                self._connections.pop(key, None)
                if attempt:
                    raise
                continue
            headers_out = {}
            for name, value in raw.getheaders():
                name = name.lower()
                if name == "set-cookie":
                    cookie = SimpleCookie()
                    cookie.load(value)
                    for morsel in cookie.values():
                        if morsel["max-age"] == "0" or not morsel.value:
                            self.cookies.pop(morsel.key, None)
                        else:
                            self.cookies[morsel.key] = morsel.value
                headers_out[name] = value
            if raw.getheader("Connection", "").lower() == "close":
                connection.close()
                self._connections.pop(key, None)
            return Response(raw.status, headers_out, payload)
        raise AssertionError("unreachable")

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, data, **kwargs):
        return self.request("POST", url, data=data, **kwargs)

    def close(self):
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(response):
    match = CSRF_INPUT.search(response.text)
    assert match, f"no CSRF token in the page (HTTP {response.status})"
    return match.group(1)


# SMTP -----------------------------------------------------------------------------


class SmtpLedger:
    """What the SMTP server (tests/scale/smtp_sink.py) received, read as it grows."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.per_recipient = Counter()
        self.first_seen = {}
        self.first_at = None
        self.last_at = None
        self._offset = 0
        self._partial = ""

    def refresh(self):
        with self.lock:
            if not self.path.exists():
                return self
            with self.path.open(encoding="utf-8") as ledger:
                ledger.seek(self._offset)
                chunk = ledger.read()
                self._offset = ledger.tell()
            lines = (self._partial + chunk).split("\n")
            self._partial = lines.pop()  # an unfinished last line, if any
            for line in lines:
                stamp, recipient = line.split(" ", 1)
                stamp = float(stamp)
                self.per_recipient[recipient] += 1
                self.first_seen.setdefault(recipient, stamp)
                self.first_at = min(self.first_at or stamp, stamp)
                self.last_at = max(self.last_at or stamp, stamp)
        return self

    def count_matching(self, suffix):
        self.refresh()
        with self.lock:
            return sum(c for r, c in self.per_recipient.items() if r.endswith(suffix))


# The cluster ----------------------------------------------------------------------


class Cluster:
    """Everything the scale tests talk to, and the figures they collect."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.processes = []
        self.figures = FIGURES
        self.web = []  # base URLs of instance A and B
        self.env = None
        self.db_url = None
        self.smtp = None

    # Database access for the test itself (plain psycopg, not Django's ORM).
    def sql(self, query, params=None, *, fetch=True):
        import psycopg

        with psycopg.connect(**self.conninfo, autocommit=True) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if fetch and cursor.description else None

    def manage(self, *args, timeout=120):
        return run(
            [PYTHON, "manage.py", *args], env=self.env, timeout=timeout, what=args[0]
        )

    def cpu(self, prefix):
        """CPU seconds so far of the processes whose names start with ``prefix``."""
        return cpu_seconds(p.pid for p in self.processes if p.name.startswith(prefix))

    def check_alive(self):
        dead = [p for p in self.processes if p.poll() is not None]
        assert not dead, "\n\n".join(
            f"{p.name} exited with {p.poll()}:\n{p.tail()}" for p in dead
        )

    def logs(self):
        return "\n\n".join(f"--- {p.name} ---\n{p.tail(15)}" for p in self.processes)


def _database_urls(name):
    """The dev cluster's URL from DATABASE_URL, pointed at database ``name``."""
    base = os.environ.get("DATABASE_URL", "")
    if not base:
        raise RuntimeError("DATABASE_URL is not set (make test-scale sets it).")
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path=f"/{name}", query=""))
    maintenance = urlunsplit(parts._replace(path="/postgres", query=""))
    return url, maintenance


def _conninfo(url):
    import dj_database_url

    config = dj_database_url.parse(url)
    return {
        "dbname": config["NAME"],
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
    }


def _drop_abandoned_databases(connection):
    """Databases of scale runs whose process is gone (killed runs)."""
    rows = connection.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE 'newsroom\\_scale\\_%'"
    ).fetchall()
    for (name,) in rows:
        pid = name.rsplit("_", 1)[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Start everything; stop it all and drop the database afterwards."""
    import psycopg

    if not REDIS_SERVER:
        pytest.fail(
            "redis-server is not installed: run `make test-scale` (it installs "
            "Debian's redis-server package as root) or `apt-get install redis-server`."
        )
    if find_spec("redis") is None:
        pytest.fail(
            "The redis Python package is missing (Django's Redis cache backend "
            "needs it): add it to pyproject.toml and run make lock, or "
            "pip install redis."
        )
    started = time.monotonic()
    tmp = tmp_path_factory.mktemp("scale")
    cluster = Cluster(tmp)
    db_name = f"newsroom_scale_{os.getpid()}"
    cluster.db_url, maintenance_url = _database_urls(db_name)
    cluster.conninfo = {k: v for k, v in _conninfo(cluster.db_url).items() if v}
    maintenance = {k: v for k, v in _conninfo(maintenance_url).items() if v}
    created_db = False
    try:
        # The SMTP server, in a process of its own.
        smtp_port = free_port()
        ledger = tmp / "smtp-ledger.txt"
        smtp = Process(
            "smtp",
            [PYTHON, SCALE_DIR / "smtp_sink.py", smtp_port, ledger],
            env=os.environ.copy(),
            log_dir=tmp,
        )
        cluster.processes.append(smtp)
        cluster.smtp = SmtpLedger(ledger)

        # Redis on a unix socket in the temporary folder: no port to collide on.
        redis_socket = tmp / "redis.sock"
        redis = Process(
            "redis",
            [
                REDIS_SERVER,
                "--port",
                "0",
                "--unixsocket",
                redis_socket,
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
            ],
            env=os.environ.copy(),
            log_dir=tmp,
        )
        cluster.processes.append(redis)

        ports = [free_port(), free_port()]
        cluster.web = [f"http://127.0.0.1:{port}" for port in ports]
        secret_key = secrets.token_urlsafe(50)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "TEST_DB", "PYTEST", "DATABASE_REPLICA"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "newsroom.settings",
                "PYTHONDONTWRITEBYTECODE": "1",
                "DEBUG": "false",
                "SECRET_KEY": secret_key,
                "DATABASE_URL": cluster.db_url,
                "CACHE_URL": f"unix://{redis_socket}",
                "SITE_URL": cluster.web[0],
                "ALLOWED_HOSTS": "127.0.0.1",
                "CSRF_TRUSTED_ORIGINS": ",".join(cluster.web),
                "SECURE_SSL_REDIRECT": "false",
                "SESSION_COOKIE_SECURE": "false",
                "CSRF_COOKIE_SECURE": "false",
                "SECURE_HSTS_SECONDS": "0",
                "STATIC_ROOT": str(tmp / "static"),
                "MEDIA_ROOT": str(tmp / "media"),
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(smtp_port),
                "DEFAULT_FROM_EMAIL": "Scale Daily <newsletter@scale.example>",
                "NEWSLETTER_POSTAL_ADDRESS": "1 Test Street, Testville",
                "NEWSLETTER_SIGNUPS_PER_IP": "10",
                "LOG_LEVEL": "WARNING",
                "WEB_CONCURRENCY": "2",
                "GUNICORN_THREADS": "4",
                "GUNICORN_GRACEFUL_TIMEOUT": "5",
            }
        )
        cluster.env = env

        # Static files (hashed and compressed, as in production) while the
        # database is created and migrated.
        collectstatic = subprocess.Popen(
            [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        with psycopg.connect(**maintenance, autocommit=True) as connection:
            _drop_abandoned_databases(connection)
            connection.execute(f'CREATE DATABASE "{db_name}"')
        created_db = True
        cluster.manage("migrate", "--noinput", "-v0")
        output, _ = collectstatic.communicate(timeout=180)
        assert collectstatic.returncode == 0, output.decode(errors="replace")

        wait_for(redis_socket.exists, 10, "redis-server's socket", processes=[redis])
        wait_for(
            lambda: "ready" in smtp.log_path.read_text(),
            10,
            "the SMTP server",
            processes=[smtp],
        )

        for label, port in zip("AB", ports, strict=True):
            instance_env = {
                **env,
                "BIND": f"127.0.0.1:{port}",
                "GUNICORN_ACCESS_LOG": str(tmp / f"access-{label}.log"),
            }
            cluster.processes.append(
                Process(
                    f"web-{label}",
                    [GUNICORN, "-c", ROOT / "gunicorn.conf.py"],
                    env=instance_env,
                    log_dir=tmp,
                )
            )
        for number in (1, 2, 3):
            # Every queue: what a worker machine runs with the Procfile's
            # worker and emailworker lines folded into one process.
            cluster.processes.append(
                Process(
                    f"worker-{number}",
                    [
                        PYTHON,
                        "manage.py",
                        "db_worker",
                        "--no-reload",
                        "--queue-name",
                        "*",
                        "--worker-id",
                        f"scale-worker-{number}",
                    ],
                    env=env,
                    log_dir=tmp,
                )
            )
        probe = Client()
        for url in cluster.web:
            wait_for(
                lambda url=url: probe.get(f"{url}/healthz").status == 200,
                60,
                f"{url}/healthz",
                interval=0.2,
                processes=cluster.processes,
            )
        probe.close()
        cluster.figures["start-up (s)"] = round(time.monotonic() - started, 1)
        yield cluster
    finally:
        stopping = time.monotonic()
        # db_worker and gunicorn both stop gracefully on SIGTERM; all at once.
        for process in reversed(cluster.processes):
            process.signal(signal.SIGTERM)
        for process in reversed(cluster.processes):
            process.stop(timeout=20)
        if created_db:
            with psycopg.connect(**maintenance, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        cluster.figures["shut-down (s)"] = round(time.monotonic() - stopping, 1)


@pytest.fixture(scope="module")
def content(cluster):
    """Stories, an editor and a draft digest, made by the app's own code."""
    script = (SCALE_DIR / "setup_content.py").read_text()
    output = cluster.manage("shell", "-c", script)
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture
def new_client():
    """``new_client(source="127.0.0.x")``: HTTP clients, closed after the test."""
    made = []

    def make(**kwargs):
        client = Client(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
