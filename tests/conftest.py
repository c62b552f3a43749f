"""Shared fixtures. Browser tests run in Debian's Chromium through Playwright."""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Playwright's sync API runs an event loop in the test thread; Django's ORM
# would otherwise refuse to be called from it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if CHROMIUM:
        return
    browser_items = [item for item in items if item.get_closest_marker("browser")]
    if browser_items:
        config.hook.pytest_deselected(items=browser_items)
        items[:] = [item for item in items if item not in browser_items]
        config._browser_tests_not_run = len(browser_items)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    missing = getattr(config, "_browser_tests_not_run", 0)
    if missing:
        terminalreporter.write_line(
            f"BROWSER TESTS DID NOT RUN ({missing} tests): Chromium is not installed "
            "and could not be installed here (needs root and apt-get). "
            "Install Debian's 'chromium' package and run make test again.",
            red=True,
            bold=True,
        )
    elif CHROMIUM:
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
