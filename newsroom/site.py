"""The public site's address: every absolute link (feeds, sitemaps, emails,
social metadata) is built on ``SITE_URL``, never on the host a request came
in on (a proxy's, a health checker's, a worker's)."""

from urllib.parse import urljoin, urlsplit

from django.conf import settings


def absolute_url(path):
    """``/a/b/`` → ``https://site.example/a/b/``; absolute URLs pass unchanged."""
    return urljoin(settings.SITE_URL + "/", str(path))


def site_host():
    return urlsplit(settings.SITE_URL).hostname or "localhost"
