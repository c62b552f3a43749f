"""gunicorn.conf.py: what an operator's environment turns into."""

import runpy
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
VARIABLES = (
    "BIND",
    "PORT",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "GUNICORN_ACCESS_LOG",
)


@pytest.fixture
def config(monkeypatch):
    """The configuration's settings for the given environment variables."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def load(**environ):
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONFIG))

    return load


def test_sync_workers_never_recycled_by_default(config):
    settings = config()
    assert settings["worker_class"] == "sync"
    assert settings["threads"] == 1
    assert settings["max_requests"] == 0
    assert settings["accesslog"] == "-"


def test_threads_select_the_gthread_worker(config):
    settings = config(GUNICORN_THREADS="4")
    assert (settings["worker_class"], settings["threads"]) == ("gthread", 4)


def test_recycling_gets_a_tenth_as_jitter_unless_set(config):
    assert config(GUNICORN_MAX_REQUESTS="200000")["max_requests_jitter"] == 20_000
    settings = config(GUNICORN_MAX_REQUESTS_JITTER="5")
    assert (settings["max_requests"], settings["max_requests_jitter"]) == (200_000, 5)


@pytest.mark.parametrize("value", ["off", "OFF", "none", "false", "0"])
def test_access_log_can_be_turned_off(config, value):
    # Not a log file named "off" in the current folder.
    assert config(GUNICORN_ACCESS_LOG=value)["accesslog"] is None


def test_access_log_to_a_file(config, tmp_path):
    path = str(tmp_path / "access.log")
    assert config(GUNICORN_ACCESS_LOG=path)["accesslog"] == path
