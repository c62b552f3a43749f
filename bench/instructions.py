"""Interpreter instructions per request for one benchmark page.

    .venv/bin/python bench/instructions.py article-u [--requests 200]

Requests/s on this kind of virtual machine move by 10-30% from one minute
to the next, which hides a change worth 5%. The number of instructions the
web process executes per request does not move: it is counted here by
valgrind (``cachegrind``, Debian's ``valgrind`` package; not a project
dependency), so that two versions of the code can be compared exactly.

The page runs in-process through Django's WSGI handler (as gunicorn calls
it, without the network) on the bench database, with the production
settings ``bench/profile.py`` uses. The process runs twice under valgrind,
with no requests and with ``--requests``, after the same warm-up, and the
difference is divided by ``--requests``: start-up and warm-up cancel out.
PostgreSQL's work is not counted (it is another process); ``bench/profile.py``
shows the queries.

The argument is a scenario key from bench/scenarios.py whose requests are
GETs (``article-u``, ``home-u``, ``search-common``, ``admin``, ``floor``,
``article-shared-c`` with a new ``?fbclid=`` each time...), ``signup`` (the
newsletter signup POST, a new address each time, with a valid CSRF cookie
and token as in the benchmark), or a path starting with ``/``.
"""

import argparse
import io
import itertools
import os
import random
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

WARM_UP = 50
_MODES = {"fixed", "bust", "shared", "random", "admin", "signup"}
_NGINX = {"limit", "proxy"}  # served by nginx, not by Django


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", help="scenario key (e.g. article-u) or /path")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    counts = [_count(args.page, n) for n in (0, args.requests)]
    per_request = (counts[1] - counts[0]) / args.requests
    print(f"{args.page}: {per_request / 1e6:.3f} M instructions per request")
    return 0


def _count(page, requests):
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--run",
        page,
        str(requests),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        # The child's own message, without valgrind's.
        lines = done.stderr.splitlines()
        own = [line for line in lines if not line.startswith(("==", "--"))]
        raise SystemExit("\n".join(own))
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    return int(found.group(1).replace(",", ""))


def run(page, requests):
    """The measured process: warm up, then ``requests`` requests."""
    os.environ.update(
        common.django_env(common.bench_database_url(), SITE_URL="http://127.0.0.1:8000")
    )
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import Client, override_settings

    from bench import prep, scenarios

    # As bench/profile.py: static files unhashed, so no collectstatic.
    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
            },
        }
    ).enable()
    from django.utils import timezone

    targets = prep.pick_targets(timezone.now())
    targets["floor_path"] = "/bench/floor/?bytes=20000"
    by_key = {s["key"]: s for s in scenarios.build(targets)}
    if page.startswith("/"):
        scenario = {"mode": "fixed", "path": page}
    elif page not in _NGINX and by_key.get(page, {}).get("mode") in _MODES:
        scenario = by_key[page]
    else:
        pages = ", ".join(
            key
            for key, scenario in by_key.items()
            if key not in _NGINX and scenario["mode"] in _MODES
        )
        raise SystemExit(f"unknown page {page!r}: one of {pages}")
    cookie = ""
    if scenario["mode"] == "admin":
        client = Client()
        client.force_login(get_user_model().objects.get(username="bench"))
        cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    paths = []
    if scenario["mode"] == "random":
        urls = common.DATA / "article-urls.txt"
        if not urls.exists():
            prep.write_url_list(urls)
        paths = urls.read_text().split()
    application = WSGIHandler()
    chooser = random.Random(1)  # the same stories in both runs
    token = ""
    if scenario["mode"] == "signup":
        # As the benchmark does: a CSRF cookie and form token from the
        # newsletter page, sent with every POST.
        form_page = Client().get("/newsletter/")
        token = re.search(
            rb'name="csrfmiddlewaretoken" value="([^"]+)"', form_page.content
        ).group(1)
        cookie = f"csrftoken={form_page.cookies['csrftoken'].value}"
    addresses = itertools.count()

    def one():
        path = scenario["path"]
        method, body = "GET", b""
        if scenario["mode"] == "signup":
            method = "POST"
            body = (
                b"csrfmiddlewaretoken=" + token + b"&email="
                + f"{prep.SIGNUP_PREFIX}instructions-{next(addresses)}".encode()
                + b"%40example.org&source=bench&website="
            )  # fmt: skip
        if scenario["mode"] == "random":
            path = chooser.choice(paths)
        if scenario["mode"] in ("random", "bust", "shared"):
            # As the wrk scripts do: a new value per request, under the
            # shared-link parameter for "shared" (a page-cache hit).
            name = scenarios.SHARED_PARAMETER if scenario["mode"] == "shared" else "v"
            path += ("&" if "?" in path else "?") + f"{name}={uuid.uuid4().hex}"
        path, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_COOKIE": cookie,
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
        }
        if body:
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
            environ["CONTENT_LENGTH"] = str(len(body))
        status = []
        body = application(environ, lambda s, headers, exc_info=None: status.append(s))
        b"".join(body)
        expected = "303" if scenario["mode"] == "signup" else "200"
        if not status[0].startswith(expected):
            raise SystemExit(f"{path}?{query}: {status[0]}")

    for _ in range(WARM_UP):
        one()
    for _ in range(requests):
        one()
    prep.clean_up()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        run(sys.argv[2], int(sys.argv[3]))
    else:
        with common.only_one_at_a_time():
            sys.exit(main())
