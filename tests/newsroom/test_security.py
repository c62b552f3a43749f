"""Production security: deployment checks, CSP, admin login hardening."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import PASSWORD, make_article, make_staff

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "a-real-secret-key-" + "x7Q2" * 12,
    "SITE_URL": "https://news.example.com",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "NEWSLETTER_POSTAL_ADDRESS": "1 Harbour Street, Northgate",
}


def production_env():
    env = {**os.environ, **PRODUCTION_ENV}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests only
    return env


def test_check_deploy_passes_in_production():
    """`check --deploy --fail-level WARNING` is clean with the production env."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_security_settings():
    """HSTS a year, secure cookies, SSL redirect behind a configurable proxy."""
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        "s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_HTTPONLY,"
        "s.SESSION_COOKIE_SAMESITE)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=settings.BASE_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith(
        "31536000 True True True ('HTTP_X_FORWARDED_PROTO', 'https') True Lax"
    )


@pytest.mark.django_db
def test_reader_pages_carry_a_strict_policy(client):
    """No inline or eval'd script is allowed anywhere on reader pages."""
    article = make_article()
    response = client.get(article.get_absolute_url())
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    # JSON-LD is a data block, not a script that needs a nonce:
    assert "nonce" not in response.content.decode()


@pytest.mark.django_db
def test_admin_has_its_own_nonced_policy(client):
    """The admin's scripts run by nonce, never by 'unsafe-inline'."""
    client.force_login(make_staff("editor", "Editor"))
    response = client.get(reverse("admin:articles_article_add"))
    policy = response["Content-Security-Policy"]
    assert "'nonce-" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.django_db
def test_brute_force_on_the_admin_login_is_stopped(client):
    """After 5 failures the username and address are locked, right password or not."""
    make_staff("editor", "Editor")
    login = reverse("admin:login")
    for attempt in range(1, settings.AXES_FAILURE_LIMIT + 1):
        response = client.post(login, {"username": "editor", "password": "wrong-guess"})
        assert response.status_code == (
            429 if attempt == settings.AXES_FAILURE_LIMIT else 200
        )
    response = client.post(login, {"username": "editor", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session
    # The same editor from another address is not locked out.
    other = client.__class__(REMOTE_ADDR="10.9.8.7")
    response = other.post(login, {"username": "editor", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_session_is_rotated_at_login_and_dead_after_logout(client):
    """A session fixed before login is useless after it; logout kills the session."""
    make_staff("editor", "Editor")
    client.get(reverse("admin:login"))
    session = client.session
    session["planted"] = True
    session.save()
    before = session.session_key
    client.cookies[settings.SESSION_COOKIE_NAME] = before
    response = client.post(
        reverse("admin:login"), {"username": "editor", "password": PASSWORD}
    )
    assert response.status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    client.post(reverse("admin:logout"))
    stolen = client.__class__()
    stolen.cookies[settings.SESSION_COOKIE_NAME] = after
    response = stolen.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.django_db
def test_staff_passwords_must_pass_the_validators(client):
    """An editor cannot give a new colleague a weak password."""
    admin_user = get_user_model().objects.create_superuser(
        "chief", "chief@example.com", PASSWORD
    )
    client.force_login(admin_user)
    for weak in ["password", "12345678901234", "newsroom", "short"]:
        response = client.post(
            reverse("admin:auth_user_add"),
            {
                "username": "newbie",
                "password1": weak,
                "password2": weak,
                "usable_password": "true",
            },
        )
        assert response.status_code == 200, weak
        assert not get_user_model().objects.filter(username="newbie").exists()
