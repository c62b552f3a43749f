"""``make bench``: load the site with wrk on a large newsroom, in one command.

    .venv/bin/python bench/run.py [--duration 5] [--reps 3] [--rebuild] ...

1. Builds the bench database if it is missing or stale (bench/data.py).
2. Collects static files into a temporary STATIC_ROOT and gets the database
   ready, counting every page's queries (bench/prep.py).
3. Starts gunicorn (the project's gunicorn.conf.py: 2 × cores + 1 sync
   workers; production settings, bench/settings.py) and nginx (Debian's
   package, bench/nginx.conf.template) on loopback ports.
4. Runs every scenario of bench/scenarios.py with ``wrk -t1 -c16``, after a
   short warm-up, three times interleaved with the two baselines (floor: a
   minimal Django view; limit: the article page's HTML served by nginx),
   and the CPU time each process spent per request (bench/cpu.py).
5. Measures sending a digest (bench/digest.py) with the web servers stopped.
6. Prints a table of medians, ratios and queries, checks the issue's targets,
   and writes the table with the machine's description to bench/README.md
   (and every figure to bench/.data/results/).
"""

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, cpu, scenarios  # noqa: E402

LUA = common.BENCH / "lua"
README = common.BENCH / "README.md"
RESULTS_START = "<!-- bench:results:start -->"
RESULTS_END = "<!-- bench:results:end -->"
SIGNUP_REDIRECT = "/newsletter/check-inbox/"


def parse_args(argv=None):
    env = os.environ.get
    parser = argparse.ArgumentParser(
        description="Benchmark Newsroom with wrk on a large newsroom (make bench)."
    )
    parser.add_argument(
        "--duration",
        type=int,
        default=int(env("BENCH_DURATION", "5")),
        help="seconds per measurement (BENCH_DURATION, default 5)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=int(env("BENCH_WARMUP", "1")),
        help="seconds of warm-up before each measurement (default 1)",
    )
    parser.add_argument(
        "--reps", type=int, default=int(env("BENCH_REPS", "3")), help="default 3"
    )
    parser.add_argument(
        "--adjacent-floor",
        type=int,
        default=int(env("BENCH_ADJACENT_FLOOR", "2")),
        help="seconds of floor measured after every page, which each page's "
        "ratios are taken against (BENCH_ADJACENT_FLOOR, default 2; 0: the "
        "floor at the start and end of each repetition only)",
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--rebuild",
        action="store_true",
        default=env("BENCH_REBUILD", "") in ("1", "true"),
        help="rebuild the bench database (BENCH_REBUILD=1)",
    )
    parser.add_argument(
        "--only",
        default=env("BENCH_ONLY", ""),
        help="comma-separated scenario keys (floor and limit are always run)",
    )
    parser.add_argument(
        "--profile",
        default=env("BENCH_PROFILE", ""),
        help="comma-separated scenario keys to record with py-spy (first rep)",
    )
    parser.add_argument(
        "--no-profile-missed",
        dest="profile_missed",
        action="store_false",
        help="do not measure each page that missed its target once more under "
        "py-spy (by default it is, and the profile goes into the report)",
    )
    parser.add_argument(
        "--digest",
        choices=["auto", "skip", "full"],
        default=env("BENCH_DIGEST", "auto"),
        help="auto: 2,000 recipients in full, 200,000 for --digest-seconds; "
        "full: both in full; skip",
    )
    parser.add_argument(
        "--digest-seconds",
        type=float,
        default=float(env("BENCH_DIGEST_SECONDS", "30")),
        help="sending time measured at 200,000 recipients (default 30)",
    )
    parser.add_argument(
        "--gunicorn",
        choices=["issue", "project"],
        default=env("BENCH_GUNICORN", "project"),
        help="project (the default): the project's gunicorn.conf.py with its "
        "defaults, the set-up docs/deploy.md recommends; issue: 2 sync workers "
        "(bench/gunicorn.conf.py) (BENCH_GUNICORN)",
    )
    parser.add_argument(
        "--cache",
        choices=["redis", "local"],
        default=env("BENCH_CACHE", "redis"),
        help="redis (the default): the page cache in a redis-server of the "
        "benchmark's own, shared by the workers, as docs/deploy.md asks for "
        "more than one worker; local: each worker's own memory (BENCH_CACHE)",
    )
    parser.add_argument(
        "--no-readme", action="store_true", help="do not update bench/README.md"
    )
    parser.add_argument(
        "--from-results",
        metavar="JSON",
        help="print (and write to bench/README.md) the tables of a recorded run "
        "in bench/.data/results/ instead of running",
    )
    return parser.parse_args(argv)


# -- HTTP -----------------------------------------------------------------------


def fetch(port, path, *, method="GET", headers=None, body=None, timeout=60):
    """(status, headers dict with lower-case names, set-cookies, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        content = response.read()
        cookies = SimpleCookie()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookies.load(value)
        found = {name.lower(): value for name, value in response.getheaders()}
        return response.status, found, cookies, content
    finally:
        conn.close()


def csrf_pair(port, path):
    """A CSRF cookie and a form token from a page with a form."""
    status, _, cookies, content = fetch(port, path)
    if status != 200 or "csrftoken" not in cookies:
        raise SystemExit(f"{path}: no CSRF cookie (status {status})")
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content)
    if not match:
        raise SystemExit(f"{path}: no csrfmiddlewaretoken in the form")
    return cookies["csrftoken"].value, match.group(1).decode()


def admin_login(port, password):
    """Log in as the bench superuser once; return the Cookie header value."""
    cookie, token = csrf_pair(port, "/admin/login/")
    body = urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": "bench",
            "password": password,
            "next": "/admin/",
        }
    )
    status, _, cookies, _ = fetch(
        port,
        "/admin/login/?next=/admin/",
        method="POST",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookie}",
        },
    )
    if status != 302 or "sessionid" not in cookies:
        raise SystemExit(f"admin login failed (status {status})")
    csrf = cookies["csrftoken"].value if "csrftoken" in cookies else cookie
    return f"sessionid={cookies['sessionid'].value}; csrftoken={csrf}"


# -- Servers --------------------------------------------------------------------


class Servers:
    """gunicorn, nginx and redis-server, started and stopped by us (by their
    pids)."""

    def __init__(self, env, gunicorn_port, nginx_port, workdir):
        self.env = env
        self.gunicorn_port = gunicorn_port
        self.nginx_port = nginx_port
        self.workdir = Path(workdir)
        self.gunicorn = None
        self.nginx = None
        self.redis = None
        self.cache_url = None  # each worker's own memory

    def start_redis(self):
        """Debian's redis-server on a unix socket of its own, configured as
        docs/deploy.md says (a cache only: no persistence, ``maxmemory``
        with ``allkeys-lru``); the workers' ``CACHE_URL`` points at it."""
        folder = self.workdir / "redis"
        folder.mkdir()
        socket_path = folder / "redis.sock"
        log = folder / "redis.log"
        self.redis = subprocess.Popen(
            [
                shutil.which("redis-server") or "/usr/bin/redis-server",
                *("--port", "0", "--unixsocket", str(socket_path)),
                *("--unixsocketperm", "700", "--save", "", "--appendonly", "no"),
                *("--maxmemory", "512mb", "--maxmemory-policy", "allkeys-lru"),
                *("--dir", str(folder), "--logfile", str(log)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            if self.redis.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-3000:] if log.exists() else ""
                raise SystemExit(f"redis-server did not start:\n{tail}")
            time.sleep(0.1)
        self.cache_url = f"unix://{socket_path}"

    def start_gunicorn(self, flavour="project"):
        log = self.workdir / "gunicorn.log"
        if flavour == "project":
            config = common.ROOT / "gunicorn.conf.py"
            extra = ["--access-logfile", "-"]  # as configured: to stdout
        else:
            config = common.BENCH / "gunicorn.conf.py"
            extra = []
        self.gunicorn = subprocess.Popen(
            [
                str(common.VENV_BIN / "gunicorn"),
                "--config",
                str(config),
                "--bind",
                f"127.0.0.1:{self.gunicorn_port}",
                "--no-control-socket",
                "--error-logfile",
                str(log),
                "--log-level",
                "info",  # start-up lines only: no access log in the issue set-up
                *extra,
                "newsroom.wsgi:application",
            ],
            env={
                **self.env,
                "BIND": f"127.0.0.1:{self.gunicorn_port}",
                **({"CACHE_URL": self.cache_url} if self.cache_url else {}),
            },
            cwd=common.ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait(self.gunicorn_port, "/healthz", self.gunicorn, log)
        time.sleep(1)  # every worker forked before they are counted
        described = log.read_text() if log.exists() else ""
        match = re.search(r"Using worker: (\w+)", described)
        self.worker_class = match.group(1) if match else "?"
        self.workers = len(self.worker_pids())

    def worker_pids(self):
        try:
            children = Path(
                f"/proc/{self.gunicorn.pid}/task/{self.gunicorn.pid}/children"
            ).read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

    def start_nginx(self, article_html):
        prefix = self.workdir / "nginx"
        root = prefix / "root"
        (root / "bench-limit").mkdir(parents=True, exist_ok=True)
        (root / "bench-limit" / "article.html").write_bytes(article_html)
        template = (common.BENCH / "nginx.conf.template").read_text()
        config = template.format(
            prefix=prefix,
            root=root,
            port=self.nginx_port,
            upstream_port=self.gunicorn_port,
            workers=os.cpu_count() or 1,
        )
        (prefix / "nginx.conf").write_text(config)
        # As root, nginx's workers run as an unprivileged user: let them in.
        for folder in [self.workdir, prefix, root, root / "bench-limit"]:
            folder.chmod(0o755)
        self.nginx = subprocess.Popen(
            [
                shutil.which("nginx") or "/usr/sbin/nginx",
                "-p",
                str(prefix),
                "-c",
                str(prefix / "nginx.conf"),
                "-e",
                str(prefix / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait(
            self.nginx_port,
            "/bench-limit/article.html",
            self.nginx,
            prefix / "error.log",
        )

    def _wait(self, port, path, process, log, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text()[-3000:] if log.exists() else ""
                raise SystemExit(f"server exited with {process.returncode}:\n{tail}")
            try:
                if fetch(port, path, timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"server on port {port} did not answer {path}")

    def stop(self):
        for process, sig in (
            (self.nginx, signal.SIGTERM),
            (self.gunicorn, signal.SIGINT),
            (self.redis, signal.SIGTERM),
        ):
            if process is None or process.poll() is not None:
                continue
            process.send_signal(sig)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- wrk ------------------------------------------------------------------------


def lua_script(workdir, mode):
    """report.lua plus the mode's request script, as one file."""
    path = Path(workdir) / f"wrk-{mode}.lua"
    if not path.exists():
        parts = [(LUA / "report.lua").read_text()]
        extra = {
            "random": "random_paths.lua",
            "bust": "bust.lua",
            "shared": "bust.lua",
            "signup": "signup.lua",
        }
        if mode in extra:
            parts.append((LUA / extra[mode]).read_text())
        path.write_text("\n".join(parts))
    return path


def wrk(args, url, script, script_args=(), headers=(), duration=None):
    command = [
        "wrk",
        "-t",
        str(args.threads),
        "-c",
        str(args.connections),
        "-d",
        f"{duration or args.duration}s",  # whole seconds
        "--timeout",
        "30s",
        "-s",
        str(script),
    ]
    for header in headers:
        command += ["-H", header]
    command += [url, "--", *script_args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            data = json.loads(line[len("BENCHJSON ") :])
            seconds = data["duration_us"] / 1e6
            data["rps"] = data["requests"] / seconds if seconds else 0.0
            data["error_count"] = sum(data["errors"].values())
            return data
    raise SystemExit(
        f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}"
    )


class Runner:
    """Turns a scenario into a wrk command line."""

    def __init__(self, args, servers, prep, workdir, admin_cookie, csrf):
        self.args = args
        self.servers = servers
        self.prep = prep
        self.workdir = workdir
        self.admin_cookie = admin_cookie
        self.csrf = csrf
        self.etag = {}
        self.tag = f"{int(time.time())}"
        self.counter = 0
        self.meter = cpu.Meter(
            servers.worker_pids,
            lambda: servers.nginx and servers.nginx.pid,
            lambda: servers.redis and servers.redis.pid,
        )

    def port(self, scenario):
        if scenario["server"] == "nginx":
            return self.servers.nginx_port
        return self.servers.gunicorn_port

    def command(self, scenario):
        self.counter += 1
        tag = f"{self.tag}-{self.counter}"
        mode, path = scenario["mode"], scenario["path"]
        script = lua_script(self.workdir, mode)
        base = f"http://127.0.0.1:{self.port(scenario)}"
        headers, script_args = [], []
        if mode == "random":
            script_args = [self.prep["urls_file"], "yes", tag]
            url = base + "/"
        elif mode == "bust":
            script_args = [path, tag]
            url = base + "/"
        elif mode == "shared":
            script_args = [path, tag, scenarios.SHARED_PARAMETER]
            url = base + "/"
        elif mode == "signup":
            script_args = [path, self.csrf[0], self.csrf[1], tag]
            url = base + "/"
        else:
            url = base + path
        if mode == "etag":
            headers.append(f"If-None-Match: {self.etag[scenario['key']]}")
        if mode == "admin":
            headers.append(f"Cookie: {self.admin_cookie}")
        return url, script, script_args, headers

    def measure(self, scenario, duration=None):
        url, script, script_args, headers = self.command(scenario)
        before = self.meter.reading()
        result = wrk(self.args, url, script, script_args, headers, duration)
        # Before the drain: what wrk left in the queue is not in its count.
        after = self.meter.reading()
        result["cpu_ms"] = cpu.Meter.per_request(before, after, result["requests"])
        self.drain()
        return result

    def drain(self):
        """Wait until every gunicorn worker is idle again.

        When wrk stops, requests it sent may still wait in the listen
        backlog: sync workers serve them even though nobody listens any more,
        and they would be charged to the next measurement. One request per
        worker, sent at once, returns only when the queue before it is gone.
        """
        from concurrent.futures import ThreadPoolExecutor

        workers = max(1, len(self.servers.worker_pids()))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(
                pool.map(
                    lambda _: fetch(
                        self.servers.gunicorn_port, "/bench/floor/?bytes=1", timeout=600
                    ),
                    range(workers),
                )
            )

    def preflight(self, scenario):
        """One request as wrk will send it: status, size and cache headers."""
        mode, path = scenario["mode"], scenario["path"]
        port = self.port(scenario)
        headers, method, body = {}, "GET", None
        if mode == "random":
            path = Path(self.prep["urls_file"]).read_text().split("\n", 1)[0]
            path += "?v=preflight"
        elif mode == "bust":
            path += ("&" if "?" in path else "?") + "v=preflight-" + self.tag
        elif mode == "shared":
            path += f"?{scenarios.SHARED_PARAMETER}=preflight-{self.tag}"
        elif mode == "admin":
            headers["Cookie"] = self.admin_cookie
        elif mode == "signup":
            method = "POST"
            headers = {
                "Cookie": f"csrftoken={self.csrf[0]}",
                "Content-Type": "application/x-www-form-urlencoded",
            }
            body = urlencode(
                {
                    "csrfmiddlewaretoken": self.csrf[1],
                    "email": f"bench-signup-preflight-{self.tag}@example.org",
                    "source": "bench",
                }
            )
        elif mode == "etag":
            _, found, _, _ = fetch(port, path)
            self.etag[scenario["key"]] = found.get("etag", '"none"')
            headers["If-None-Match"] = self.etag[scenario["key"]]
        status, found, cookies, content = fetch(
            port, path, method=method, headers=headers, body=body
        )
        again = None
        if mode in ("fixed", "shared"):
            # With --cache local each gunicorn worker has its own cache: ask
            # a few times and keep the best answer.
            for attempt in range(4):
                if mode == "shared":  # a new click each time
                    base = path.partition("?")[0]
                    path = f"{base}?{scenarios.SHARED_PARAMETER}={attempt}"
                again = fetch(port, path)[1]
                if again.get("x-cache") == "hit" or again.get("x-micro-cache") == "HIT":
                    break
        # A signup is answered with a redirect to "check your inbox" (PRG).
        expected = {"etag": 304, "signup": 303}.get(mode, 200)
        info = {
            "status": status,
            "ok": status == expected
            and (mode != "signup" or found.get("location") == SIGNUP_REDIRECT),
            "bytes": len(content),
            "x_cache": found.get("x-cache"),
            "x_cache_again": (again or {}).get("x-cache"),
            "micro_cache_again": (again or {}).get("x-micro-cache"),
            "cache_control": found.get("cache-control"),
            "vary": found.get("vary"),
            "sets_cookie": sorted(cookies.keys()),
        }
        return info


# -- Profiles -------------------------------------------------------------------


class Profiler:
    """py-spy on the gunicorn workers while a scenario is measured.

    Only samples taken while a worker holds the interpreter lock count
    (``--gil``): on a loaded machine a worker is often runnable but waiting
    for a core, right after the call that woke PostgreSQL or Redis, and
    sampled there it would look busy in that call.
    """

    def __init__(self, keys, servers, duration):
        self.keys = set(filter(None, keys.split(",")))
        self.servers = servers
        self.duration = duration
        self.folder = common.DATA / "profiles"
        self.processes = []
        self.summaries = {}

    @staticmethod
    def available():
        return shutil.which(
            "py-spy", path=str(common.VENV_BIN) + os.pathsep + os.environ["PATH"]
        )

    def start(self, key):
        self.processes = []
        py_spy = self.available()
        if key not in self.keys or not py_spy:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for pid in self.servers.worker_pids():
            out = self.folder / f"{key}-{pid}.txt"
            self.processes.append(
                (
                    out,
                    subprocess.Popen(
                        [
                            py_spy,
                            "record",
                            "--pid",
                            str(pid),
                            "--duration",
                            str(int(self.duration)),
                            "--rate",
                            "200",
                            "--format",
                            "raw",
                            "--output",
                            str(out),
                            "--nonblocking",
                            "--gil",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    ),
                )
            )

    def stop(self, key):
        if not self.processes:
            return
        for _, process in self.processes:
            try:
                process.wait(timeout=self.duration + 30)
            except subprocess.TimeoutExpired:
                process.kill()
        files = [out for out, _ in self.processes if out.exists()]
        self.summaries[key] = summarize_profile(files)
        self.processes = []


PLUMBING = (
    "gunicorn/",
    "django/core/handlers/",
    "django/utils/deprecation.py",
    "middleware",
    "django/views/decorators/",
    "django/core/management/",
    "django_tasks_db/management/",
    "(manage.py)",
    "<module>",
)


def summarize_profile(files, top=25):
    """Where py-spy's samples went, from its raw (collapsed) stacks.

    ``top``: inclusive share per function, leaving out the server, handler
    and middleware frames every request passes through; ``self``: the
    functions the samples were taken in (with their file).
    """
    inclusive, leaves, total = {}, {}, 0
    for file in files:
        for line in file.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            try:
                count = int(count)
            except ValueError:
                continue
            total += count
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            for name in set(frames):
                inclusive[name] = inclusive.get(name, 0) + count
            leaves[frames[-1]] = leaves.get(frames[-1], 0) + count
    if not total:
        return {"samples": 0, "files": [str(f) for f in files], "top": [], "self": []}

    def share(items, n):
        ranked = sorted(items, key=lambda item: -item[1])[:n]
        return [(name, round(100 * count / total, 1)) for name, count in ranked]

    useful = [
        (name, count)
        for name, count in inclusive.items()
        if not any(part in name for part in PLUMBING)
    ]
    return {
        "samples": total,
        "files": [str(file) for file in files],
        "top": share(useful, top),
        "self": share(leaves.items(), 15),
    }


# -- Reporting -------------------------------------------------------------------


def prewarm(database_url):
    """Read the bench database into memory, as a newsroom's database server
    keeps it.

    A random story among 100,000 reads a gigabyte of tables and indexes. On
    a machine that reclaims memory it has not touched for a while (a virtual
    machine's balloon or DAMON), the operating system's cache lost part of
    it within minutes, and the random-story page measured the disk (p99 of
    0.7 s) instead of the code. Where PostgreSQL's shared buffers can hold
    the database (the project-local cluster sizes them so:
    ``newsroom.localdb``), it is read into them, which such reclaiming does
    not touch; elsewhere into the operating system's cache, again before
    each repetition. Uses pg_prewarm (PostgreSQL's contrib; skipped where it
    is not installed).
    """
    started = time.monotonic()
    relations = (
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname IN ('public', 'pg_toast')"
        " AND c.relkind IN ('r', 'i', 't') AND c.relpersistence = 'p'"
    )
    with common.connect(database_url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        except Exception as error:  # noqa: BLE001 - optional; say why and go on
            common.progress(f"pg_prewarm unavailable ({error}); not prewarming")
            return
        size, buffers = conn.execute(
            f"SELECT sum(pg_relation_size(c.oid)), "  # noqa: S608 - no input
            f"pg_size_bytes(current_setting('shared_buffers')) {relations}"
        ).fetchone()
        # Room to spare for the catalogues and what the pages themselves touch.
        mode = "buffer" if size and 6 * size < 5 * buffers else "read"
        blocks = conn.execute(
            f"SELECT coalesce(sum(pg_prewarm(c.oid, %s)), 0) {relations}",  # noqa: S608
            [mode],
        ).fetchone()[0]
    where = "shared buffers" if mode == "buffer" else "the OS cache"
    common.progress(
        f"prewarmed the bench database into {where}: {blocks * 8 / 1024:,.0f} MB "
        f"in {time.monotonic() - started:.1f}s"
    )


def machine_info(database_url):
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with common.connect(database_url) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    nginx = subprocess.run(
        ["nginx", "-v"], capture_output=True, text=True, check=False
    ).stderr.strip()
    wrk_version = subprocess.run(
        ["wrk", "-v"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    versions = subprocess.run(
        [
            common.PYTHON,
            "-c",
            "import django, gunicorn; "
            "print(django.get_version(), gunicorn.__version__)",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": postgres,
        "django": versions[0] if versions else "?",
        "gunicorn": versions[1] if len(versions) > 1 else "?",
        "nginx": nginx.replace("nginx version: ", ""),
        "wrk": wrk_version.split(" [")[0],
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def redis_version():
    found = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"v=(\S+)", found)
    return match.group(1) if match else "?"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(results):
    summary = {}
    for key, runs in results.items():
        summary[key] = {
            "rps": median([r["rps"] for r in runs]),
            "p50_ms": median([r["p50_us"] / 1000 for r in runs]),
            "p99_ms": median([r["p99_us"] / 1000 for r in runs]),
            "errors": sum(r["error_count"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
            "rps_runs": [round(r["rps"], 1) for r in runs],
            "cpu_ms": {
                part: median([(r.get("cpu_ms") or {}).get(part) for r in runs])
                for part in cpu.PARTS
            },
            "by_rep": {
                rep: statistics.mean(r["rps"] for r in runs if r.get("rep") == rep)
                for rep in sorted({r.get("rep") for r in runs})
            },
        }
        # Each measurement over the floor measured on either side of it
        # (--adjacent-floor); the floor is 1 against itself.
        adjacent = {}
        for r in runs:
            if key == "floor":
                adjacent.setdefault(r.get("rep"), []).append(1.0)
            elif r.get("floor_rps"):
                adjacent.setdefault(r.get("rep"), []).append(r["rps"] / r["floor_rps"])
        if adjacent:
            summary[key]["by_rep_floors"] = {
                rep: statistics.mean(values) for rep, values in adjacent.items()
            }
    return summary


NGINX_PAGES = {"limit", "proxy"}


def paired_ratio(summary, key, baseline):
    """Median over repetitions of key's req/s over baseline's in the same one.

    Pairing by repetition keeps a machine whose speed drifts during the run
    (other work starting or stopping) from skewing the ratios. Where both
    were measured with the floor beside them (``--adjacent-floor``), each is
    first taken over the floor measured on either side of it: the machine's
    speed moves within a repetition too (the floor by up to 15% in one of
    three minutes). Pages served by nginx are paired by repetition only.
    """
    ratios = paired_ratios(summary, key, baseline)
    return statistics.median(ratios) if ratios else None


def paired_ratios(summary, key, baseline):
    """key's req/s over baseline's in each repetition, in order (see
    ``paired_ratio()``)."""
    a = (summary.get(key) or {}).get("by_rep_floors")
    b = (summary.get(baseline) or {}).get("by_rep_floors")
    if baseline != "floor" and {key, baseline} & NGINX_PAGES:
        # nginx's pages are not Django's: the floor does not follow their
        # speed, and they are compared with each other (and Django's pages
        # with them) within the repetition.
        a = b = None
    if not (a and b):
        a = (summary.get(key) or {}).get("by_rep") or {}
        b = (summary.get(baseline) or {}).get("by_rep") or {}
    return [a[rep] / b[rep] for rep in sorted(a) if rep in b and b[rep]]


class RepeatedRatio(float):
    """A median ratio, with the repetitions' ratios it is the median of."""

    def __new__(cls, ratios):
        value = super().__new__(cls, statistics.median(ratios))
        value.ratios = ratios
        return value


def query_label(queries, key):
    value = queries.get(key)
    if value is None:
        return "-"
    if isinstance(value, dict):
        return (
            f"{value['min']}-{value['max']}"
            if value["min"] != value["max"]
            else str(value["max"])
        )
    return str(value)


def table_rows(scenario_list, summary, queries, preflight=None):
    rows = []
    for scenario in scenario_list:
        s = summary.get(scenario["key"])
        if not s:
            continue
        rps = s["rps"]
        check = (preflight or {}).get(scenario["key"], {})
        page = scenario["page"]
        if check and not check["ok"]:
            page += f" [answers {check['status']}]"
        rows.append(
            [
                page,
                scenario["cache"],
                f"{rps:,.0f}" if rps >= 100 else f"{rps:,.1f}",
                f"{s['p50_ms']:.1f}",
                f"{s['p99_ms']:.1f}",
                _fmt(paired_ratio(summary, scenario["key"], "floor"), 2),
                _fmt(paired_ratio(summary, scenario["key"], "limit"), 3),
                query_label(queries, scenario["key"]),
                str(s["errors"]),
            ]
        )
    return rows


CPU_HEADERS = [
    "Page",
    "Cache",
    *(f"{cpu.LABELS[part]} ms" for part in cpu.PARTS),
    "total ms",
    "floor's total ÷ total",
]


def cpu_rows(scenario_list, summary):
    """CPU milliseconds per request of each part, medians over repetitions.

    The last column is the ratio to the floor the page would reach if the
    cores were the only limit: compare it with the main table's × floor.
    """
    totals, cpu_ms = {}, {}
    for key, s in summary.items():
        parts = {part: s.get("cpu_ms", {}).get(part) for part in cpu.PARTS}
        for part in cpu.ADDED_LATER:
            if parts[part] is None:
                parts[part] = 0.0
        if all(value is not None for value in parts.values()):
            cpu_ms[key] = parts
            totals[key] = sum(parts.values())
    floor = totals.get("floor")
    rows = []
    for scenario in scenario_list:
        key = scenario["key"]
        if key not in totals:
            continue
        parts = cpu_ms[key]
        rows.append(
            [
                scenario["page"],
                scenario["cache"],
                *(f"{parts[part]:.2f}" for part in cpu.PARTS),
                f"{totals[key]:.2f}",
                _fmt(floor / totals[key], 2) if floor and totals[key] else "-",
            ]
        )
    return rows


def _fmt(value, digits=2):
    """A ratio, with enough digits to tell small ones apart."""
    if value is None:
        return "-"
    if value >= 0.1 or value <= 0:
        return f"{value:.{digits}f}"
    # Two significant digits, never in exponent notation.
    return f"{value:.{1 - math.floor(math.log10(value))}f}"


TARGET_HEADERS = ["Target", "Measured", "Verdict", "Repetitions"]
HEADERS = [
    "Page",
    "Cache",
    "req/s",
    "p50 ms",
    "p99 ms",
    "× floor",
    "× limit",
    "queries",
    "errors",
]


def text_table(headers, rows):
    widths = [
        max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)
    ]
    line = "  ".join("-" * w for w in widths)

    def fmt(row):
        cells = []
        for i, (cell, width) in enumerate(zip(row, widths, strict=False)):
            cells.append(str(cell).ljust(width) if i < 2 else str(cell).rjust(width))
        return "  ".join(cells)

    return "\n".join([fmt(headers), line, *[fmt(row) for row in rows]])


def markdown_table(headers, rows):
    out = ["| " + " | ".join(headers) + " |"]
    out.append(
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(headers))) + "|"
    )
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def evaluate(summary, queries, digest, preflight=None, missed=None):
    """The issue's targets: (target, measured, verdict).

    ``missed``, a list, receives the scenario key of each page that misses
    its target (to be profiled).
    """
    checks = []
    broken = {
        key: check["status"]
        for key, check in (preflight or {}).items()
        if not check["ok"]
    }

    def rps(key):
        if key in broken:
            raise Broken(key, broken[key])
        return (summary.get(key) or {}).get("rps")

    def at_least(label, value, minimum, detail="", key=None):
        if isinstance(value, Broken):
            checks.append([label, "invalid", str(value), ""])
            return
        if value is None:
            checks.append([label, "not measured", "-", ""])
            return
        shown = _fmt(value)
        if value >= minimum:
            verdict = "met"
        else:
            short = 100 * (1 - value / minimum)
            verdict = f"MISSED by {short:.0f}%" if short >= 0.5 else "MISSED by <1%"
            if shown == _fmt(minimum):
                shown = _fmt(value, 3)  # 0.899, not "0.90", for a 0.90 target
            if key and missed is not None:
                missed.append(key)
        # A median of three hides how far apart they were: a verdict decided
        # by one repetition reads differently from one all three agree on.
        reps = " ".join(_fmt(r) for r in getattr(value, "ratios", ()))
        checks.append([label, f"{shown}{detail}", verdict, reps])

    def at_most(label, value, maximum, detail=""):
        if value is None:
            checks.append([label, "not measured", "-", ""])
            return
        if value <= maximum:
            verdict = "met"
        else:
            verdict = f"MISSED by {100 * (value / maximum - 1):.0f}%"
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        checks.append([label, f"{shown}{detail}", verdict, ""])

    def ratio(key_a, key_b):
        try:
            rps(key_a), rps(key_b)
        except Broken as error:
            return error
        ratios = paired_ratios(summary, key_a, key_b)
        return RepeatedRatio(ratios) if ratios else None

    at_least(
        "Article uncached ≥ 0.20 × floor",
        ratio("article-u", "floor"),
        0.20,
        key="article-u",
    )
    article_q = queries.get("article-u")
    numbers = list(queries.get("article-shapes", {}).values())
    if isinstance(article_q, dict):
        numbers.append(article_q["max"])
    worst = max(numbers) if numbers else None
    at_most(
        "Article queries ≤ 6 (random sample, light and heavy story)",
        worst,
        6,
    )
    at_least(
        "Home uncached ≥ 0.15 × floor", ratio("home-u", "floor"), 0.15, key="home-u"
    )
    for key in (
        "home-c",
        "article-c",
        "article-shared-c",
        "section1-c",
        "section1000-c",
        "tag-c",
        "author-c",
        "feed-c",
        "news-sitemap-c",
    ):
        at_least(
            f"{key} (page cache) ≥ 0.90 × floor", ratio(key, "floor"), 0.90, key=key
        )
    at_least(
        "304 answer ≥ 0.95 × floor",
        ratio("article-304", "floor"),
        0.95,
        key="article-304",
    )
    at_least(
        "Article via nginx micro-cache ≥ 0.80 × limit",
        ratio("proxy", "limit"),
        0.80,
    )
    at_least(
        "Section p.1,000 ≥ 0.8 × p.1 (uncached)",
        ratio("section1000-u", "section1-u"),
        0.8,
        key="section1000-u",
    )
    for key in ("search-common", "search-rare"):
        at_least(
            f"{key} ≥ 0.5 × article uncached",
            ratio(key, "article-u"),
            0.5,
            key=key,
        )
    for key in ("admin", "admin-search"):
        at_least(
            f"{key} ≥ 0.25 × article uncached",
            ratio(key, "article-u"),
            0.25,
            key=key,
        )
    signup_errors = (summary.get("signup") or {}).get("errors")
    at_least(
        "Signup POST ≥ 0.25 × floor",
        ratio("signup", "floor"),
        0.25,
        f", {signup_errors} errors" if signup_errors is not None else "",
        key="signup",
    )
    if signup_errors:
        checks[-1][2] = f"{signup_errors} ERRORS"
    if digest and digest.get("ratio") is not None:
        at_least("Digest ≥ 0.7 × bare smtplib rate", digest["ratio"], 0.7)
        at_most(
            "Digest worker peak memory 200,000 vs 2,000 recipients ≤ 1.2×",
            digest.get("memory_ratio"),
            1.2,
        )
    else:
        checks.append(["Digest sending", "not measured", "-", ""])
    return checks


class Broken(Exception):
    """A page that did not answer as expected: its ratios mean nothing."""

    def __init__(self, key, status):
        super().__init__(f"INVALID: {key} answers {status}")


def write_readme(text):
    current = README.read_text() if README.exists() else ""
    if RESULTS_START in current and RESULTS_END in current:
        head, _, rest = current.partition(RESULTS_START)
        _, _, tail = rest.partition(RESULTS_END)
        current = head + RESULTS_START + "\n" + text + "\n" + RESULTS_END + tail
    else:
        current += f"\n{RESULTS_START}\n{text}\n{RESULTS_END}\n"
    README.write_text(current)


def results_markdown(
    info, command, args, rows, checks, prep, digest, when, cpu_table=(), profiles=None
):
    t = prep["targets"]
    counts = prep["meta"].get("newsroom", {}).get("counts", {})
    # Runs before 2026-12-05 had no --cache: each worker's own memory.
    page_cache = info.get("cache", "each worker's local memory")
    lines = [
        f"### Results of {when}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['kernel']}; "
        f"Python {info['python']}, Django {info['django']}, gunicorn "
        f"{info['gunicorn']} ({info.get('gunicorn_setup', '?')}), PostgreSQL "
        f"{info['postgresql']}, {info['nginx']}, {info['wrk']}; page cache: "
        f"{page_cache}. Load average "
        f"at start: {info['load_average_at_start']}.",
        "",
        f"Data: {counts.get('stories', 0):,} stories ({t['published']:,} published), "
        f"{counts.get('authors', 0):,} authors, {counts.get('sections', 0)} sections, "
        f"{counts.get('tags', 0):,} tags, {counts.get('photos', 0)} photos. "
        f"Section measured: {t['section_stories']:,} stories; tag: "
        f"{t['tag_stories']:,}; author: {t['author_stories']:,}; search "
        f"“{t['common_term']}” matches {t['common_matches']:,}, "
        f"“{t['rare_term']}” {t['rare_matches']:,}. Article page: "
        f"{t['article_bytes']:,} bytes. {article_queries(prep)}",
        "",
        f"`wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s` after "
        f"{args.warmup:g}s of warm-up; {args.reps} repetitions interleaved, "
        "medians. Ratios are to the floor and the limit measured in the same run"
        + (
            f", each page taken over the floor measured for "
            f"{args.adjacent_floor:g}s on either side of it."
            if getattr(args, "adjacent_floor", 0)
            else "."
        ),
        "",
        markdown_table(HEADERS, rows),
        "",
    ]
    if cpu_table:
        lines += [
            "CPU milliseconds per request, by process (`bench/cpu.py`; medians). "
            "The last column is the ratio to the floor the page would reach if "
            "the two cores were the only limit:",
            "",
            markdown_table(CPU_HEADERS, cpu_table),
            "",
        ]
    if digest:
        lines += [digest_markdown(digest), ""]
    lines += ["Targets:", "", markdown_table(TARGET_HEADERS, checks)]
    if profiles:
        lines += ["", profiles_markdown(profiles)]
    return "\n".join(lines)


def profiles_markdown(profiles, top=8, own=5):
    """Where each profiled page's gunicorn samples went (py-spy)."""
    lines = [
        "Profiles (py-spy on every gunicorn worker for one measurement of each "
        "page profiled: by default each page that missed its target, measured "
        "once more; share of the samples taken while a worker held the "
        "interpreter lock, `--gil`; the server, handler and middleware "
        "frames every request passes through are left out of the first list):",
        "",
    ]
    for key, profile in profiles.items():
        if not profile.get("samples"):
            continue
        inclusive = "; ".join(f"`{n}` {share}%" for n, share in profile["top"][:top])
        leaves = "; ".join(f"`{n}` {share}%" for n, share in profile["self"][:own])
        lines += [
            f"- **{key}** ({profile['samples']:,} samples). Inclusive: {inclusive}. "
            f"Sampled in: {leaves}.",
        ]
    return "\n".join(lines)


def article_queries(prep):
    """The story page's query counts, for a light and a heavy story."""
    shapes = prep["queries"].get("article-shapes", {})
    t = prep["targets"]
    parts = []
    for key in ("light", "heavy"):
        shape = t.get(f"{key}_article_shape")
        if key in shapes and shape:
            parts.append(
                f"{shapes[key]} for a story with {shape['bylines']} byline(s), "
                f"{shape['tags']} tags, {shape['corrections']} correction(s), "
                f"{shape['related_picks']} related pick(s)"
            )
    return ("Story page queries: " + "; ".join(parts) + ".") if parts else ""


def digest_markdown(digest):
    if digest.get("error"):
        return f"Digest: not measured ({digest['error']})."
    rows = []
    for run in digest["runs"]:
        rows.append(
            [
                f"{run['recipients']:,}",
                "full" if run["complete"] else f"{run['window_seconds']:.0f}s window",
                f"{run['snapshot_seconds']:.2f}",
                f"{run['sent']:,}",
                f"{run['rate']:.0f}",
                " / ".join(f"{kib / 1024:.0f}" for kib in run["peak_rss_kib"]),
            ]
        )
    baseline = digest["baseline"]
    return "\n".join(
        [
            "Digest sending (2 `db_worker` processes → local aiosmtpd):",
            "",
            markdown_table(
                [
                    "Recipients",
                    "Sent",
                    "Snapshot s",
                    "Messages",
                    "msg/s",
                    "Peak RSS per worker MiB",
                ],
                rows,
            ),
            "",
            f"Bare smtplib loop, same message ({baseline['message_bytes']:,} bytes), "
            f"same server: {baseline['rate']:.0f} msg/s over "
            f"{baseline['sent']:,} messages. Ratio: {digest['ratio']:.2f}.",
        ]
    )


# -- Main -------------------------------------------------------------------------


def render_recorded(path, write):
    """Tables of a recorded run, computed again from its raw figures."""
    record = json.loads(Path(path).read_text())
    summary = summarize(record["results"])
    scenario_list = scenarios.build(record["targets"])
    prep = {
        "targets": record["targets"],
        "queries": record["queries"],
        "meta": record["data"],
    }
    rows = table_rows(scenario_list, summary, record["queries"], record["preflight"])
    checks = evaluate(summary, record["queries"], record["digest"], record["preflight"])
    cpu_table = cpu_rows(scenario_list, summary)
    print(text_table(HEADERS, rows))
    if cpu_table:
        print()
        print(text_table(CPU_HEADERS, cpu_table))
    print()
    print(text_table(TARGET_HEADERS, checks))
    if write:
        args = argparse.Namespace(**record["args"])
        write_readme(
            results_markdown(
                record["machine"],
                record["command"],
                args,
                rows,
                checks,
                prep,
                record["digest"],
                record["when"],
                cpu_table,
                record.get("profiles"),
            )
        )
        common.progress("bench/README.md updated")
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.from_results:
        return render_recorded(args.from_results, write=not args.no_readme)
    with common.only_one_at_a_time():
        return run(args, argv)


def run(args, argv):
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(
                f"{tool} is not installed: apt-get install wrk nginx (make bench does)"
            )
    from_env = [
        f"{key}={value}"
        for key, value in sorted(os.environ.items())
        if key.startswith("BENCH_") and key != "BENCH_ADMIN_PASSWORD"
    ]
    if os.environ.get("MAKELEVEL"):
        command = " ".join([*from_env, "make bench"])
    else:
        arguments = argv if argv is not None else sys.argv[1:]
        command = " ".join([*from_env, ".venv/bin/python bench/run.py", *arguments])
    started = time.monotonic()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")

    common.progress("checking the bench database")
    data_args = ["bench/data.py"] + (["--rebuild"] if args.rebuild else [])
    common.run_python(data_args, dict(os.environ))
    dev_url = common.dev_database_url()
    url = common.bench_database_url(dev_url)
    info = machine_info(url)

    workdir = Path(tempfile.mkdtemp(prefix="newsroom-bench-"))
    gunicorn_port, nginx_port = common.free_port(), common.free_port()
    password = secrets.token_urlsafe(24)
    env = common.django_env(
        url,
        STATIC_ROOT=workdir / "static",
        SITE_URL=f"http://127.0.0.1:{gunicorn_port}",
        BENCH_ADMIN_PASSWORD=password,
    )
    servers = Servers(env, gunicorn_port, nginx_port, workdir)
    try:
        common.progress("collectstatic into a temporary STATIC_ROOT")
        common.run_python(
            ["manage.py", "collectstatic", "--noinput", "-v", "0"],
            env,
            stdout=subprocess.DEVNULL,
        )
        common.progress("preparing the data and counting queries per page")
        prep = json.loads(
            common.run_python(
                ["bench/prep.py"], env, stdout=subprocess.PIPE, text=True
            ).stdout
        )
        t = prep["targets"]
        common.progress(
            f"{prep['urls']:,} published stories; article {t['article_path']} "
            f"({t['article_bytes']:,} bytes)"
        )
        if args.cache == "redis":
            common.progress("starting redis-server (the page cache)")
            servers.start_redis()
            info["cache"] = f"Redis {redis_version()} on a unix socket"
        else:
            info["cache"] = "each worker's local memory"
        common.progress(f"starting gunicorn ({args.gunicorn} set-up)")
        servers.start_gunicorn(args.gunicorn)
        common.progress(f"gunicorn: {servers.workers} {servers.worker_class} workers")
        info["gunicorn_setup"] = f"{servers.workers} {servers.worker_class} workers"
        status, _, _, article_html = fetch(gunicorn_port, t["article_path"])
        if status != 200:
            raise SystemExit(f"{t['article_path']}: status {status}")
        t["article_bytes"] = len(article_html)
        t["floor_path"] = f"/bench/floor/?bytes={len(article_html)}"
        common.progress("starting nginx (limit and micro-cache)")
        servers.start_nginx(article_html)
        admin_cookie = admin_login(gunicorn_port, password)
        csrf = csrf_pair(gunicorn_port, "/newsletter/")
        scenario_list = scenarios.build(t)
        if args.only:
            wanted = set(args.only.split(",")) | {"floor", "limit"}
            scenario_list = [s for s in scenario_list if s["key"] in wanted]
        runner = Runner(args, servers, prep, workdir, admin_cookie, csrf)
        preflight = {}
        for scenario in scenario_list:
            preflight[scenario["key"]] = check = runner.preflight(scenario)
            if not check["ok"]:
                common.progress(
                    f"preflight {scenario['key']}: status {check['status']} "
                    "(measured anyway)"
                )
        profiler = Profiler(args.profile, servers, args.duration)
        results = {s["key"]: [] for s in scenario_list}
        total = len(scenario_list) * args.reps
        done = 0
        floor = next((s for s in scenario_list if s["key"] == "floor"), None)
        adjacent = args.adjacent_floor if floor else 0
        for rep in range(1, args.reps + 1):
            prewarm(url)
            floor_before = None
            for scenario in scenario_list:
                if args.warmup > 0:
                    runner.measure(scenario, duration=args.warmup)
                if rep == 1:
                    profiler.start(scenario["key"])
                result = runner.measure(scenario)
                if rep == 1:
                    profiler.stop(scenario["key"])
                result["rep"] = rep
                results[scenario["key"]].append(result)
                done += 1
                errors = (
                    f", {result['error_count']} errors" if result["error_count"] else ""
                )
                beside = ""
                if scenario is floor:
                    floor_before = result["rps"]
                elif adjacent:
                    # The floor again at once: the machine's speed drifts
                    # within a repetition too, and each page is compared
                    # with the floor measured on either side of it.
                    after = runner.measure(floor, duration=adjacent)
                    after["rep"] = rep
                    after["adjacent"] = True
                    results["floor"].append(after)
                    sides = [v for v in (floor_before, after["rps"]) if v]
                    result["floor_rps"] = statistics.mean(sides)
                    floor_before = after["rps"]
                    beside = f"  × floor {_fmt(result['rps'] / result['floor_rps'])}"
                common.progress(
                    f"rep {rep}/{args.reps} [{done}/{total}] {scenario['key']:<14} "
                    f"{result['rps']:8.1f} req/s  p50 {result['p50_us'] / 1000:7.1f} ms"
                    f"  p99 {result['p99_us'] / 1000:7.1f} ms{errors}{beside}"
                )
                if scenario is scenario_list[-1] and floor and not adjacent:
                    # The floor once more at the end of each repetition: the
                    # machine's state drifts, and every page is compared to it.
                    if args.warmup > 0:
                        runner.measure(floor, duration=args.warmup)
                    again = runner.measure(floor)
                    again["rep"] = rep
                    results["floor"].append(again)
                    common.progress(
                        f"rep {rep}/{args.reps} floor again     "
                        f"{again['rps']:8.1f} req/s  "
                        f"p50 {again['p50_us'] / 1000:7.1f} ms  "
                        f"p99 {again['p99_us'] / 1000:7.1f} ms"
                    )
        if args.profile_missed and "floor" in results:
            missed = []
            evaluate(summarize(results), prep["queries"], None, preflight, missed)
            keys = [key for key in missed if key not in profiler.summaries]
            if keys and Profiler.available():
                common.progress(f"profiling the pages that missed: {', '.join(keys)}")
                again = Profiler(",".join(keys), servers, args.duration)
                by_key = {s["key"]: s for s in scenario_list}
                for key in keys:
                    if args.warmup > 0:
                        runner.measure(by_key[key], duration=args.warmup)
                    again.start(key)
                    runner.measure(by_key[key])
                    again.stop(key)
                profiler.summaries.update(again.summaries)
        micro = (preflight.get("proxy") or {}).get("micro_cache_again")
    finally:
        servers.stop()
        subprocess.run(
            [common.PYTHON, "bench/prep.py", "--clean"],
            env=env,
            cwd=common.ROOT,
            check=False,
            capture_output=True,
        )

    digest = None
    if args.digest != "skip":
        common.progress("digest sending")
        digest_args = [
            "bench/digest.py",
            "--window",
            str(args.digest_seconds),
        ] + (["--full"] if args.digest == "full" else [])
        result = subprocess.run(
            [common.PYTHON, *digest_args],
            env=env,
            cwd=common.ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        for line in result.stdout.splitlines():
            if line.startswith("BENCHJSON "):
                digest = json.loads(line[len("BENCHJSON ") :])
            else:
                print(line, flush=True)
        if digest is None:
            digest = {"error": f"bench/digest.py exited with {result.returncode}"}

    summary = summarize(results)
    rows = table_rows(scenario_list, summary, prep["queries"], preflight)
    checks = evaluate(summary, prep["queries"], digest, preflight)
    if os.environ.get("BENCH_KEEP_WORKDIR"):
        common.progress(f"logs and configs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)

    cpu_table = cpu_rows(scenario_list, summary)
    print()
    print(text_table(HEADERS, rows))
    if cpu_table:
        print()
        print("CPU per request (see bench/cpu.py):")
        print(text_table(CPU_HEADERS, cpu_table))
    if digest and not digest.get("error"):
        print()
        print(digest_markdown(digest))
    print()
    print(text_table(TARGET_HEADERS, checks))
    notes = []
    if micro and micro != "HIT":
        notes.append(f"nginx did not cache the article (X-Micro-Cache: {micro})")
    for key, check in preflight.items():
        if not check["ok"]:
            notes.append(f"{key}: preflight status {check['status']}")
        if key.endswith("-c") and check.get("x_cache_again") != "hit":
            notes.append(f"{key}: second request was not a page-cache hit")
    for note in notes:
        print("note:", note)
    if profiler.summaries:
        print("\nProfiles (py-spy --gil, share of samples, inclusive):")
        for key, profile in profiler.summaries.items():
            print(f"  {key} ({profile['samples']} samples), inclusive:")
            for name, share in profile["top"]:
                print(f"    {share:5.1f}%  {name}")
            print("  self:")
            for name, share in profile["self"]:
                print(f"    {share:5.1f}%  {name}")
    elapsed = time.monotonic() - started
    print(f"\nDone in {elapsed / 60:.1f} min.")

    record = {
        "when": when,
        "command": command,
        "args": vars(args),
        "machine": info,
        "targets": prep["targets"],
        "queries": prep["queries"],
        "preflight": preflight,
        "results": results,
        "summary": summary,
        "checks": checks,
        "digest": digest,
        "profiles": profiler.summaries,
        "data": prep["meta"],
        "notes": notes,
    }
    folder = common.DATA / "results"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    (folder / f"{stamp}.json").write_text(json.dumps(record, indent=2, default=str))
    if not args.no_readme and not args.only:
        write_readme(
            results_markdown(
                info,
                command,
                args,
                rows,
                checks,
                prep,
                digest,
                when,
                cpu_table,
                profiler.summaries,
            )
        )
        common.progress("bench/README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
