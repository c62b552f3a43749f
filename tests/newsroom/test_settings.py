import os
import subprocess
import sys

from django.conf import settings

CHECK = [sys.executable, "manage.py", "check"]


def run_check(**overrides):
    env = {**os.environ, **overrides}
    for name, value in overrides.items():
        if value is None:
            env.pop(name)
    return subprocess.run(
        CHECK, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )


def test_production_refuses_to_start_without_secret_key():
    """With DEBUG off and no SECRET_KEY, start-up fails and names the variable."""
    result = run_check(DEBUG="false", SECRET_KEY=None)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_a_default_secret_key():
    """A well-known placeholder key is as bad as none."""
    result = run_check(DEBUG="false", SECRET_KEY="change-me")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_database_url():
    """With DEBUG off and no DATABASE_URL, start-up fails and names the variable."""
    result = run_check(DEBUG="false", SECRET_KEY="x" * 50, DATABASE_URL=None)
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_production_starts_with_real_settings():
    """A real secret key and database URL are enough to pass the system checks."""
    result = run_check(DEBUG="false", SECRET_KEY="a-real-secret-" + "k" * 40)
    assert result.returncode == 0, result.stderr


def _in_django(code, **overrides):
    env = {**os.environ, **overrides}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_newsroom_in_another_language_gets_djangos_translations():
    """Translations are off for English (Django's advice when a site does
    not need them) but a newsroom working in French gets the desk and its
    dates in French."""
    code = (
        "from django.utils.translation import gettext;"
        "from django.utils.dateformat import format;"
        "import datetime;"
        "print(gettext('Log in'), format(datetime.date(2026, 3, 1), 'F'))"
    )
    assert _in_django(code, LANGUAGE_CODE="fr") == "Connexion mars"
    assert _in_django(code, LANGUAGE_CODE="en-us") == "Log in March"
    assert _in_django(code, LANGUAGE_CODE="en-us", USE_I18N="true") == "Log in March"


def test_sessions_are_read_from_the_cache_only_when_every_process_shares_it():
    """With Redis, a desk page reads its session from the cache; a cache of
    each process's own memory would keep a session another process ended."""
    code = "from django.conf import settings; print(settings.SESSION_ENGINE)"
    shared = _in_django(code, CACHE_URL="unix:///run/redis/redis.sock")
    assert shared == "django.contrib.sessions.backends.cached_db"
    for own in ("", "locmem://", "dummy://"):
        engine = _in_django(code, CACHE_URL=own)
        assert engine == "django.contrib.sessions.backends.db"
