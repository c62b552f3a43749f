"""Newsroom settings: one module, driven by the environment.

Every variable is documented in README.md and .env.example. With DEBUG off
(the default) the site refuses to start without a real SECRET_KEY and a
DATABASE_URL, so a forgotten variable cannot reach production silently.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=None):
    value = os.environ.get(name, "").strip()
    return value if value else default


def env_bool(name, default=False):
    value = env(name)
    if value is None:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_list(name, default=()):
    value = env(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

# Keys that must never run a production site.
INSECURE_SECRET_KEYS = {"", "change-me", "changeme", "secret", "django-insecure"}

SECRET_KEY = env("SECRET_KEY", "")
if not DEBUG and (
    SECRET_KEY in INSECURE_SECRET_KEYS
    or SECRET_KEY.startswith("django-insecure")
    or len(SECRET_KEY) < 32
):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or is a default value. Set SECRET_KEY to a long "
        "random string (python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
        "or set DEBUG=true for development."
    )
if not SECRET_KEY:
    # Reached only with DEBUG on: a fixed key keeps dev sessions and signed
    # links valid across restarts and between the web server and the worker.
    SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105

SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = env("SITE_NAME", "Newsroom")
_site_host = urlsplit(SITE_URL).hostname or "localhost"

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    ["localhost", "127.0.0.1", "[::1]", _site_host] if DEBUG else [_site_host],
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "taggit",
    "reversion",
    "django_prose_editor",
    "django_tasks_db",
    "newsroom",
    "articles",
    "newsletter",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "newsroom.urls"
WSGI_APPLICATION = "newsroom.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "newsroom.context_processors.site",
                "articles.context_processors.navigation",
            ],
        },
    },
]

# Database ------------------------------------------------------------------

DATABASE_URL = env("DATABASE_URL")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Use `make run` / `make test`, which start a "
        "project-local PostgreSQL, or set DATABASE_URL=postgres://user:pass@host/db."
    )
_database = dj_database_url.parse(
    DATABASE_URL, conn_max_age=60, conn_health_checks=True
)
if _database.get("OPTIONS", {}).get("pool"):
    # psycopg's pool replaces persistent connections (Django requires 0).
    _database["CONN_MAX_AGE"] = 0
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache ---------------------------------------------------------------------


def _cache_from_url(url):
    if not url or url.startswith("locmem://"):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
        }
    if url.startswith("dummy://"):
        return {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    raise ImproperlyConfigured(f"CACHE_URL scheme not supported: {url!r}")


CACHES = {"default": _cache_from_url(env("CACHE_URL"))}

# Auth ----------------------------------------------------------------------

_validators = "django.contrib.auth.password_validation."
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": _validators + "UserAttributeSimilarityValidator"},
    {"NAME": _validators + "MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": _validators + "CommonPasswordValidator"},
    {"NAME": _validators + "NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# Internationalisation ------------------------------------------------------

LANGUAGE_CODE = env("LANGUAGE_CODE", "en-us")
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Static and media ----------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(env("MEDIA_ROOT", BASE_DIR / ".local" / "media"))

# In development WhiteNoise serves straight from the app folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Email ---------------------------------------------------------------------

# Django 6.1's MAILERS. The variables keep the familiar EMAIL_* names.
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
_mailer_options = {}
if EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    _mailer_options = {
        "host": env("EMAIL_HOST", "localhost"),
        "port": int(env("EMAIL_PORT", "25")),
        "username": env("EMAIL_HOST_USER", ""),
        "password": env("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS"),
        "use_ssl": env_bool("EMAIL_USE_SSL"),
        "timeout": int(env("EMAIL_TIMEOUT", "30")),
    }
elif EMAIL_BACKEND.endswith("filebased.EmailBackend"):
    _mailer_options = {
        "file_path": env("EMAIL_FILE_PATH", str(BASE_DIR / ".local" / "mail"))
    }
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND, "OPTIONS": _mailer_options}}
del EMAIL_BACKEND  # deprecated as a setting in Django 6.1; MAILERS replaces it
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", f"{SITE_NAME} <newsroom@{_site_host}>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Background tasks ----------------------------------------------------------

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "email"],
    }
}

# Security ------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Logging: everything to standard output, for the process manager to collect.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {
            "handlers": ["console"],
            "level": env("LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}
