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
