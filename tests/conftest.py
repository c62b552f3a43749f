"""Shared fixtures. Browser tests run in Debian's Chromium through Playwright."""

import os
import shutil
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE_SCRIPT = (
    Path(__file__).parent / "site" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
)

# Playwright's sync API runs an event loop in the test thread; Django's ORM
# would otherwise refuse to be called from it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# The live server's listen backlog (10 by default) resets connections when
# dozens of clients connect at once on a busy machine, as the concurrency
# tests do; a real deployment's gunicorn has a backlog of 2048.
WSGIServer.request_queue_size = 128


def pytest_collection_modifyitems(config, items):
    """Tests that cannot run here are set aside loudly, never silently."""
    reasons = {}
    if not CHROMIUM:
        reasons["browser"] = (
            "Chromium is not installed and could not be installed here (needs root "
            "and apt-get); install Debian's 'chromium' package"
        )
    if not AXE_SCRIPT.exists():
        reasons["axe"] = (
            "axe-core is not installed (needs npm); run "
            "'npm ci --prefix tests/site/axe'"
        )
    config._not_run = {}
    for marker, reason in reasons.items():
        held = [item for item in items if item.get_closest_marker(marker)]
        if held:
            config.hook.pytest_deselected(items=held)
            items[:] = [item for item in items if item not in held]
            config._not_run[marker] = (len(held), reason)


def _order(item):
    """Django's order: database tests, then transactional ones, then the rest."""
    marker = item.get_closest_marker("django_db")
    transactional = (marker and marker.kwargs.get("transaction")) or (
        "live_server" in item.fixturenames or "transactional_db" in item.fixturenames
    )
    if transactional:
        return 1
    return 0 if marker or "db" in item.fixturenames else 2


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    # pytest's own fixture-based reordering runs after pytest-django's sort
    # and can put a transactional test (which empties the tables) before
    # ordinary database tests; restore Django's order, stably.
    session.items.sort(key=_order)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for marker, (count, reason) in getattr(config, "_not_run", {}).items():
        terminalreporter.write_line(
            f"{marker.upper()} TESTS DID NOT RUN ({count} tests): {reason}, "
            "then run make test again.",
            red=True,
            bold=True,
        )
    if CHROMIUM and "browser" not in getattr(config, "_not_run", {}):
        terminalreporter.write_line(f"Browser tests ran in Chromium ({CHROMIUM}).")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Let concurrent runs in one checkout use their own test database."""
    suffix = os.environ.get("TEST_DB_SUFFIX")
    if suffix:
        from django.conf import settings

        test = settings.DATABASES["default"].setdefault("TEST", {})
        test["NAME"] = f"test_{settings.DATABASES['default']['NAME']}_{suffix}"


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test starts with an empty cache and no remembered content version
    (nor anything remembered for one: each test's database starts again from
    the same versions)."""
    from django.core.cache import cache

    from articles import caching, context_processors
    from articles.templatetags import desk

    cache.clear()
    caching.recent_pages.clear()
    caching.content_memos.clear()
    desk._ROWS.clear()
    caching._local.memo = None
    context_processors._LINKS.clear()
    yield
    caching._local.memo = None


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Hash test users' passwords with MD5, as Django's testing docs advise.

    The production hasher (PBKDF2, 1.5 million rounds) takes a second here
    per user created or password checked, and most tests make an editor.
    Servers started as separate processes (the scale and fault tests) keep
    the real hashers, with users made by those processes.
    """
    from django.test import override_settings

    with override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
    ):
        yield
