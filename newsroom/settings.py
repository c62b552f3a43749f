"""Newsroom settings: one module, driven by the environment.

Every variable is documented in README.md and .env.example. With DEBUG off
(the default) the site refuses to start without a real SECRET_KEY and a
DATABASE_URL, so a forgotten variable cannot reach production silently.
"""

import json
import os
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

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
    "newsroom.apps.NewsroomAdminConfig",  # django.contrib.admin
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
    "axes",
    "newsroom",
    "articles",
    "newsletter",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "newsroom.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "newsroom.middleware.ConditionalGetMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "newsroom.middleware.DatabaseUnavailableMiddleware",
    "newsroom.middleware.URLContextMiddleware",
    # Last, as django-axes asks: it turns a lockout into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "newsroom.urls"
WSGI_APPLICATION = "newsroom.wsgi.application"

# The public site's pages are Jinja2 (templates/jinja2/, newsroom/jinja2.py);
# the admin, emails, sitemaps and robots.txt use Django's template language.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "newsroom.jinja2.environment",
            "context_processors": [
                "newsroom.context_processors.site",
                "articles.context_processors.navigation",
            ],
        },
    },
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
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


def _database_from_url(url):
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    # Django's backend, but the per-request health check of a persistent
    # connection asks its socket instead of sending SELECT 1 to the server
    # (newsroom/postgresql/base.py).
    if database["ENGINE"] == "django.db.backends.postgresql":
        database["ENGINE"] = "newsroom.postgresql"
    # PostgreSQL's JIT compiles "expensive-looking" queries on every run: on
    # short web queries it costs far more than it saves (measured: 0.9 s of a
    # 1.2 s query). Analytics can turn it back on per session.
    options = database.setdefault("OPTIONS", {})
    options["options"] = (options.get("options", "") + " -c jit=off").strip()
    # The reader's hot queries run as prepared statements (newsroom.compiled):
    # psycopg prepares only the statements that ask for it, since Django's
    # own cursors bind parameters client-side. Prepared statements live in a
    # database session, which PgBouncer in transaction mode does not keep:
    # there, set DATABASE_PREPARED_STATEMENTS=false.
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        options.setdefault("prepare_threshold", 5)
        # Planned once: PostgreSQL would otherwise plan the first five runs
        # for their values, and keep doing so when it misjudges the generic
        # plan (it did for the front page's array parameters, 0.6 ms a
        # page). The compiled queries are index walks whatever their values;
        # Django's own queries are not prepared and are not affected.
        options["options"] += " -c plan_cache_mode=force_generic_plan"
    if database.get("OPTIONS", {}).get("pool"):
        # psycopg's pool replaces persistent connections (Django requires 0).
        database["CONN_MAX_AGE"] = 0
        # Give up on a connection well before gunicorn's worker timeout, so
        # an outage answers 503 instead of hanging.
        database["OPTIONS"]["pool"] = {
            "timeout": float(env("DATABASE_POOL_TIMEOUT", "5"))
        }
    return database


DATABASES = {"default": _database_from_url(DATABASE_URL)}
DATABASE_ROUTERS = []
# Optional read replica (a streaming replica of the primary): reader-site
# reads of anonymous GET requests go there, everything else to the primary
# (newsroom/routers.py). Without the variable nothing changes.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **_database_from_url(DATABASE_REPLICA_URL),
        # Tests create no second database: "replica" points at the test
        # copy of "default", as a real replica would mirror it.
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["newsroom.routers.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache ---------------------------------------------------------------------


def _cache_from_url(url):
    if not url or url.startswith("locmem://"):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if url.startswith(("redis://", "rediss://", "unix://")):
        # Django's Redis backend, but a Redis outage is a cache miss, not a
        # 500 (newsroom/cache.py); a Redis that does not answer is given up
        # on quickly, since the database can answer instead.
        return {
            "BACKEND": "newsroom.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    if url.startswith("dummy://"):
        return {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    raise ImproperlyConfigured(f"CACHE_URL scheme not supported: {url!r}")


CACHES = {"default": _cache_from_url(env("CACHE_URL"))}

# The desk's sessions are read from a shared cache, and written through to
# the database (so a Redis restart logs nobody out): a page of the desk then
# asks PostgreSQL for its user only. A cache of each process's own memory
# would keep a session another process has ended (a logout): there, and
# without a cache, sessions are the database's alone.
if CACHES["default"]["BACKEND"] == "newsroom.cache.RedisCache":
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Auth ----------------------------------------------------------------------

_validators = "django.contrib.auth.password_validation."
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": _validators + "UserAttributeSimilarityValidator"},
    {"NAME": _validators + "MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": _validators + "CommonPasswordValidator"},
    {"NAME": _validators + "NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# Brute force on the admin login: after AXES_FAILURE_LIMIT failures for one
# username from one address, that pair is locked out for the cool-off. The
# pair (not the username alone) so that nobody can lock an editor out of the
# desk by guessing at their name from elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "newsroom.auth.ModelBackend",
]
AXES_FAILURE_LIMIT = int(env("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(env("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False

# Abuse limits (newsroom/ratelimit.py), counted in the cache. Behind N trusted
# proxies the client address is the Nth from the right of X-Forwarded-For;
# 0 uses the connection's address.
TRUSTED_PROXIES = int(env("TRUSTED_PROXIES", "0"))
SEARCHES_PER_IP = int(env("SEARCHES_PER_IP", "60"))
SEARCH_WINDOW = int(env("SEARCH_WINDOW", "60"))

# Internationalisation ------------------------------------------------------

LANGUAGE_CODE = env("LANGUAGE_CODE", "en-us")
TIME_ZONE = env("TIME_ZONE", "UTC")
# Django's translations (the desk, month names, dates' formats) serve a
# newsroom working in another language. In English, the language of
# Newsroom's own text, they are off, as Django advises for a site that does
# not need them: each of the desk's 170 or so translated strings a page then
# costs nothing (a tenth of the desk's time).
USE_I18N = env_bool("USE_I18N", not LANGUAGE_CODE.lower().startswith("en"))
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

# Uploaded photos and their renditions go through Django's storage API only.
# Local disk (MEDIA_ROOT) by default; any storage class by configuration,
# e.g. S3-compatible object storage with django-storages (not a dependency:
# `pip install "django-storages[s3]"`), see docs/deploy.md:
#   MEDIA_STORAGE_BACKEND=s3   (short for storages.backends.s3.S3Storage)
#   MEDIA_STORAGE_OPTIONS='{"bucket_name": "newsroom-media", ...}'
MEDIA_STORAGE_ALIASES = {"s3": "storages.backends.s3.S3Storage"}
MEDIA_STORAGE_BACKEND = env(
    "MEDIA_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
)
MEDIA_STORAGE_BACKEND = MEDIA_STORAGE_ALIASES.get(
    MEDIA_STORAGE_BACKEND.lower(), MEDIA_STORAGE_BACKEND
)
try:
    MEDIA_STORAGE_OPTIONS = json.loads(env("MEDIA_STORAGE_OPTIONS", "{}"))
except ValueError as error:
    raise ImproperlyConfigured(
        f"MEDIA_STORAGE_OPTIONS is not valid JSON: {error}"
    ) from None
if not isinstance(MEDIA_STORAGE_OPTIONS, dict):
    raise ImproperlyConfigured("MEDIA_STORAGE_OPTIONS must be a JSON object.")
if MEDIA_STORAGE_BACKEND.startswith("storages.") and not find_spec("storages"):
    raise ImproperlyConfigured(
        f"MEDIA_STORAGE_BACKEND is {MEDIA_STORAGE_BACKEND}, which needs "
        'django-storages: pip install "django-storages[s3]".'
    )

STORAGES = {
    "default": {
        "BACKEND": MEDIA_STORAGE_BACKEND,
        "OPTIONS": MEDIA_STORAGE_OPTIONS,
    },
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
        "BACKEND": "newsroom.tasks_backend.DatabaseBackend",
        # "email": signup confirmations; "digest": newsletter sends.
        "QUEUES": ["default", "email", "digest"],
    }
}

# Security ------------------------------------------------------------------
# Production (DEBUG off) is secure by default; every switch can be set from
# the environment for unusual set-ups. `manage.py check --deploy` passes.

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers check health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preload is a promise to browsers that the whole domain is HTTPS-only;
# set SECURE_HSTS_PRELOAD=false if a subdomain still serves plain HTTP.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Behind a proxy that terminates TLS, e.g. SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto
# (trust it only if the proxy always sets it).
if _proxy_header := env("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _proxy_header.upper().replace("-", "_"),
        env("SECURE_PROXY_SSL_VALUE", "https"),
    )

# Content-Security-Policy (Django's own middleware). Reader pages run no
# script at all; the admin's rich-text editor needs its scripts (nonce) and
# one style element that Tiptap injects (its hash; recompute after upgrading
# django-prose-editor: the CSP browser test names the new one).
_media_origin = (
    "{0.scheme}://{0.netloc}".format(urlsplit(MEDIA_URL))
    if MEDIA_URL.startswith("http")
    else None
)
_images = [CSP.SELF, "data:", *filter(None, [_media_origin])]
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": _images,
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
TIPTAP_STYLE_HASHES = env_list(
    "TIPTAP_STYLE_HASHES", ["'sha256-PlumsSlvJ7vvWzjqibGAYKq92O3y/4JTxWWsWJvyUYA='"]
)
ADMIN_CSP = {
    **SECURE_CSP,
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, *TIPTAP_STYLE_HASHES],
    "img-src": [*_images, "blob:"],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.SELF],  # the admin's related-object popups
}

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

# Newsletter ----------------------------------------------------------------
# Documented in README.md ("Newsletter settings") and .env.example.

# Printed in every newsletter's footer (anti-spam laws require it).
NEWSLETTER_POSTAL_ADDRESS = env(
    "NEWSLETTER_POSTAL_ADDRESS", "1 Example Street, Example City" if DEBUG else ""
)
# The mailto half of List-Unsubscribe; defaults to unsubscribe@<site host>.
NEWSLETTER_UNSUBSCRIBE_MAILTO = env(
    "NEWSLETTER_UNSUBSCRIBE_MAILTO", f"unsubscribe@{_site_host}"
)
# Signups allowed per client IP in a window of seconds (then 429).
NEWSLETTER_SIGNUPS_PER_IP = int(env("NEWSLETTER_SIGNUPS_PER_IP", "10"))
NEWSLETTER_SIGNUP_WINDOW = int(env("NEWSLETTER_SIGNUP_WINDOW", "600"))
# At most one confirmation (or "already subscribed") email per address per
# this many seconds.
NEWSLETTER_NOTIFY_INTERVAL = int(env("NEWSLETTER_NOTIFY_INTERVAL", "300"))
# Sending: messages per batch task, seconds a claimed batch stays leased,
# attempts before a delivery fails, first retry delay (doubling), seconds
# between checks of a digest being sent.
NEWSLETTER_BATCH_SIZE = int(env("NEWSLETTER_BATCH_SIZE", "100"))
NEWSLETTER_LEASE_SECONDS = int(env("NEWSLETTER_LEASE_SECONDS", "300"))
NEWSLETTER_MAX_ATTEMPTS = int(env("NEWSLETTER_MAX_ATTEMPTS", "5"))
NEWSLETTER_RETRY_DELAY = int(env("NEWSLETTER_RETRY_DELAY", "60"))
NEWSLETTER_WATCH_SECONDS = int(env("NEWSLETTER_WATCH_SECONDS", "60"))
