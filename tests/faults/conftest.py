"""Fault tests: the real site (gunicorn, production settings) on a throwaway
PostgreSQL cluster that the tests may stop, crash, dump and restore.

Nothing here touches the project's own database or the pytest-django test
database: each session gets its own cluster (tests/pgcluster.py), migrated
once into a template database that every test copies.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.pgcluster import ThrowawayCluster, server_binaries

BASE_DIR = Path(__file__).resolve().parents[2]
TEMPLATE_DB = "newsroom_faults_template"
SECRET_KEY = "fault-tests-only-" + "k" * 40
# A busy 2-core machine: waits are polls with generous deadlines.
BOOT_TIMEOUT = 90
REQUEST_TIMEOUT = 30


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "faults: runs the real site on a throwaway PostgreSQL cluster and "
        "injects faults (database restart, backup and restore)",
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = getattr(config, "_fault_summaries", [])
    if lines:
        terminalreporter.section("fault tests")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def fault_report(request):
    """report(line): print a summary line and repeat it at the end of the run."""

    def report(line):
        print(line)
        request.config.__dict__.setdefault("_fault_summaries", []).append(line)

    return report


# -- Processes -----------------------------------------------------------------


def wait_for(predicate, timeout, interval=0.05, message="condition"):
    """Poll ``predicate`` until it is true; its last value, or an AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def app_env(database_url, *, media_root, static_root, **extra):
    """The environment of a production-like Newsroom process."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DATABASE_", "MEDIA_", "NEWSLETTER_", "EMAIL_", "SECURE_", "SESSION_")
        )
        and key not in {"CACHE_URL", "SITE_URL", "ALLOWED_HOSTS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="newsroom.settings",
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        # Plain http on loopback: no redirect to https, cookies without Secure.
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        STATIC_ROOT=str(static_root),
        MEDIA_ROOT=str(media_root),
        CACHE_URL="locmem://",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        NEWSLETTER_POSTAL_ADDRESS="1 Test Street, Test City",
        LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def manage(env, *args, timeout=180):
    """Run ``manage.py`` with ``env``; its standard output, or a failure."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"manage.py {' '.join(args[:2])} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return result.stdout


SEED_SCRIPT = """
import json
from django.core.files.storage import default_storage
from tests.factories import make_article, make_author, make_photo, make_section

spec = json.loads({spec!r})
section = make_section(name="Harbor", slug="harbor")
author = make_author(name="Ana Reporter", slug="ana-reporter")
photo = make_photo(alt_text="The harbor bridge at dusk") if spec["photo"] else None
stories = []
for number, headline in enumerate(spec["headlines"]):
    article = make_article(
        headline=headline,
        slug=f"story-{{number}}",
        section=section,
        authors=[author],
        lead_photo=photo if number == 0 else None,
    )
    stories.append({{"headline": headline, "path": article.get_absolute_url()}})
files = []
if photo:
    files = [photo.image.name, *(r["name"] for r in photo.renditions)]
print(json.dumps({{
    "stories": stories,
    "media": [{{"name": n, "url": default_storage.url(n)}} for n in files],
}}))
"""


def seed(env, headlines, photo=False):
    """A section, an author and published stories (and a photo) in the database."""
    spec = json.dumps({"headlines": list(headlines), "photo": photo})
    out = manage(env, "shell", "-c", SEED_SCRIPT.format(spec=spec))
    return json.loads(out.strip().splitlines()[-1])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Exited(Exception):
    pass


class Gunicorn:
    """The site under gunicorn: 2 sync workers on a free loopback port."""

    def __init__(self, env, log_path, workers=2):
        self.env = env
        self.log_path = Path(log_path)
        self.workers = workers
        self.process = None
        self.port = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self, attempts=3):
        """Start on a free port (another, if someone takes it meanwhile)."""
        for attempt in range(attempts):
            self.port = free_port()
            self._spawn()
            try:
                wait_for(self._answers, BOOT_TIMEOUT, interval=0.2, message="gunicorn")
                return
            except _Exited:
                self.stop()
                if "already in use" not in self.log() or attempt == attempts - 1:
                    pytest.fail(f"gunicorn exited:\n{self.log()}")

    def _spawn(self):
        self._log = self.log_path.open("ab")
        self._log_start = self._log.tell()  # log() shows this run only
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "newsroom.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                # Command-line options win over ./gunicorn.conf.py (which is
                # otherwise used, as in production): sync workers, none
                # recycled during the test, a quick exit.
                "--workers",
                str(self.workers),
                "--threads",
                "1",
                "--worker-class",
                "sync",
                "--max-requests",
                "0",
                "--timeout",
                "60",
                "--graceful-timeout",
                "2",
                "--no-control-socket",
            ],
            cwd=BASE_DIR,
            env={**self.env, "SITE_URL": f"http://127.0.0.1:{self.port}"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, ended by its id
        )

    def _answers(self):
        if self.process.poll() is not None:
            raise _Exited
        try:
            return request(self.port, "GET", "/healthz", timeout=5).status == 200
        except OSError:
            return False

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            # SIGINT is gunicorn's quick shutdown (SIGTERM waits ~5 s).
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self._log.close()

    def log(self, tail=6000):
        """The log of the current run (its last ``tail`` characters)."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            text = log.read().decode(errors="replace")
        return text[-tail:] if tail else text


# -- HTTP ----------------------------------------------------------------------


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def text(self):
        return self.body.decode("utf-8", errors="replace")


def request(port, method, path, *, body=None, headers=None, timeout=REQUEST_TIMEOUT):
    """One request on a fresh connection (gunicorn's sync workers close it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        cookies = response.headers.get_all("Set-Cookie") or []
        headers["set-cookie"] = cookies
        return Response(response.status, headers, response.read())
    finally:
        conn.close()


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class SignupClient:
    """A reader who opens /newsletter/ and posts the signup form, like a browser."""

    def __init__(self, port):
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.cookie = None
        self.token = None

    def fetch_form(self):
        """GET the newsletter page for the CSRF cookie and token; its Response."""
        response = request(self.port, "GET", "/newsletter/")
        if response.status == 200:
            for header in response.headers["set-cookie"]:
                name, _, rest = header.partition("=")
                if name.strip() == "csrftoken":
                    self.cookie = rest.split(";", 1)[0]
            match = CSRF_INPUT.search(response.text())
            self.token = match.group(1) if match else None
        return response

    @property
    def ready(self):
        return bool(self.cookie and self.token)

    def subscribe(self, email):
        body = urlencode(
            {
                "csrfmiddlewaretoken": self.token,
                "email": email,
                "source": "fault test",
                "website": "",
            }
        )
        return request(
            self.port,
            "POST",
            "/newsletter/subscribe/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={self.cookie}",
                "Origin": self.origin,
                "Referer": f"{self.origin}/newsletter/",
            },
        )


def accepted_signup(response):
    """The success answer: a redirect to the "check your inbox" page."""
    return (
        response.status == 303
        and response.headers.get("location") == "/newsletter/check-inbox/"
    )


# What a page must never show a reader: a traceback or the driver's message.
LEAKS = ("Traceback", 'File "/', "OperationalError", "psycopg", ".s.PGSQL")


def styled_503(response):
    """The outage page: styled, with Retry-After, and nothing of the code."""
    text = response.text()
    return (
        response.status == 503
        and "Back in a moment" in text
        and "/static/css/site.css" in text
        and not any(leak in text for leak in LEAKS)
        and response.headers.get("retry-after") == "30"
    )


# -- The cluster, static files and the migrated template -----------------------


@pytest.fixture(scope="session")
def pg_cluster():
    if server_binaries() is None:
        pytest.fail(
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
            "the fault tests need a throwaway cluster (apt-get install postgresql)"
        )
    with ThrowawayCluster() as cluster:
        yield cluster


# The manifest (hashed names) that production's storage reads, without the
# compressed copies WhiteNoise would add: they take most of collectstatic's
# time and the tests don't need them.
COLLECTSTATIC = """
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

manifest = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
storages = {**settings.STORAGES, "staticfiles": {"BACKEND": manifest}}
with override_settings(STORAGES=storages):
    call_command("collectstatic", interactive=False, verbosity=0)
"""


@pytest.fixture(scope="session")
def _collectstatic(tmp_path_factory):
    """collectstatic, started in the background (it needs no database)."""
    root = tmp_path_factory.mktemp("static")
    env = app_env(
        os.environ.get("DATABASE_URL") or "postgres://unused/unused",
        media_root=root / "unused-media",
        static_root=root,
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", COLLECTSTATIC],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield root, process
    if process.poll() is None:
        process.kill()
        process.communicate()


@pytest.fixture(scope="session")
def static_root(_collectstatic, template_db):
    """Collected static files (production's storage needs its manifest).

    Asks for template_db so that the cluster and the migration run while
    collectstatic does.
    """
    root, process = _collectstatic
    output, _ = process.communicate(timeout=300)
    if process.returncode != 0:
        pytest.fail(f"collectstatic failed:\n{output[-5000:]}")
    return root


@pytest.fixture(scope="session")
def template_db(pg_cluster, tmp_path_factory):
    """A migrated database; tests copy it (CREATE DATABASE ... TEMPLATE)."""
    pg_cluster.create_database(TEMPLATE_DB)
    root = tmp_path_factory.mktemp("migrate")
    env = app_env(
        pg_cluster.url(TEMPLATE_DB), media_root=root, static_root=root / "static"
    )
    manage(env, "migrate", "--noinput", "-v0")
    return TEMPLATE_DB
