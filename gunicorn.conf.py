"""Gunicorn configuration for Newsroom (read by ``gunicorn`` from this folder).

    gunicorn -c gunicorn.conf.py          # or just `gunicorn` in this folder

Everything can be set from the environment (docs/deploy.md):

``BIND``                 addresses to listen on, comma-separated
                         (``127.0.0.1:8000``, ``unix:/run/newsroom/web.sock``);
``PORT``                 without BIND: listen on ``0.0.0.0:$PORT`` (platforms
                         that assign a port); neither: ``127.0.0.1:8000``
``WEB_CONCURRENCY``      worker processes (default 2 × CPU cores + 1, at most
                         ``GUNICORN_MAX_WORKERS``, 12 unless set)
``GUNICORN_THREADS``     threads per worker (default 1: sync workers, for
                         a buffering proxy such as nginx in front; more
                         than 1 selects the ``gthread`` worker)
``GUNICORN_TIMEOUT``     seconds before a silent worker is killed (30)
``GUNICORN_GRACEFUL_TIMEOUT``  seconds to finish requests on restart (30)
``GUNICORN_KEEPALIVE``   seconds to keep an idle connection (5; ``gthread``
                         only; keep it above the load balancer's idle timeout
                         towards the backends)
``GUNICORN_MAX_REQUESTS`` / ``GUNICORN_MAX_REQUESTS_JITTER``  recycle a worker
                         after this many requests (default 0: never; the
                         jitter defaults to a tenth of it)
``GUNICORN_PRELOAD``     load the code once in the master (default on); with
                         it on, ``HUP`` reloads the configuration but not the
                         code (see docs/deploy.md, "Rolling out a release")
``GUNICORN_ACCESS_LOG``  where the access log goes (default ``-``, standard
                         output; ``off`` for none, when the proxy logs requests)
``FORWARDED_ALLOW_IPS``  proxies trusted for X-Forwarded-* (gunicorn's own)

The defaults come from ``make bench`` (docs/deploy.md, "Sizing"): on two
cores, 4 threads per worker cost the story page about 40% of its throughput
and the front page half, and recycling workers every thousand requests cost
15–20% and multiplied the 99th-percentile latency by ten or more.

Gunicorn's control socket (a file in $HOME or $XDG_RUNTIME_DIR, shared by
every instance of one user) is off: several instances on one machine, and
read-only home folders, must not trip over it.
"""

import multiprocessing
import os


def _env(name, default):
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name, default):
    return int(_env(name, str(default)))


def _env_bool(name, default):
    value = _env(name, "")
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def _bind():
    if _env("BIND", ""):
        return [part.strip() for part in _env("BIND", "").split(",") if part.strip()]
    if _env("PORT", ""):
        return [f"0.0.0.0:{_env_int('PORT', 8000)}"]
    return ["127.0.0.1:8000"]


def default_workers(cores=None, cap=None):
    """2 × cores + 1 (gunicorn's rule of thumb), never more than ``cap``."""
    cores = cores or multiprocessing.cpu_count()
    cap = cap or _env_int("GUNICORN_MAX_WORKERS", 12)
    return max(1, min(2 * cores + 1, cap))


wsgi_app = "newsroom.wsgi:application"
proc_name = "newsroom-web"
bind = _bind()

workers = _env_int("WEB_CONCURRENCY", 0) or default_workers()
# Rendering a page is Python work, and a worker's threads share one
# interpreter lock: on the CPU they only queue behind each other. Processes
# run side by side, and with 2 × cores + 1 of them a request waiting on
# PostgreSQL leaves the CPU to another. Threads pay off where workers wait
# long (a distant database, clients without a buffering proxy in front).
threads = _env_int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"

timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# Recycling workers bounds the damage of a slow memory leak, but a new
# worker starts cold (connections, templates, compiled queries): a worker
# serving hundreds of requests a second would restart every few seconds.
# Off unless set; the jitter keeps workers from restarting all at once.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)

preload_app = _env_bool("GUNICORN_PRELOAD", True)
control_socket_disable = True
# The workers' heartbeat files: in memory where there is /dev/shm (a
# container's overlay disk can stall them and get healthy workers killed).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# Logs: the access log to standard output, errors to standard error, for the
# process manager (systemd's journal, the platform) to collect. %(M)s is the
# request's duration in milliseconds.
accesslog = _env("GUNICORN_ACCESS_LOG", "-")
if accesslog.lower() in {"off", "none", "false", "0"}:
    accesslog = None
errorlog = "-"
loglevel = _env("GUNICORN_LOG_LEVEL", "info")
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
)


def pre_fork(server, worker):
    """With the app preloaded, no database connection may cross a fork."""
    if preload_app:
        try:
            from django.db import connections
        except ImportError:  # pragma: no cover - Django is always there
            return
        connections.close_all()
