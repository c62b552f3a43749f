"""The public site's addresses.

Every absolute link (feeds, sitemaps, emails, social metadata) is built on
``SITE_URL``, never on the host a request came in on (a proxy's, a health
checker's, a worker's). And since a page links dozens of stories, sections
and authors, and ``reverse()`` costs more than the rest of a link's
rendering, reversed addresses are remembered per process here.
"""

import contextvars
import functools
import re
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.templatetags.static import static
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse


def absolute_url(path):
    """``/a/b/`` → ``https://site.example/a/b/``; absolute URLs pass unchanged.

    Anything starting with ``/`` is a path on SITE_URL's origin, even
    ``//[x/``: a request's path can start so, and urljoin() would take it
    for a host (and reject that one).
    """
    path = str(path)
    if path.startswith("/"):
        return _origin(settings.SITE_URL) + path
    return urljoin(settings.SITE_URL + "/", path)


@functools.lru_cache(maxsize=8)
def _origin(site_url):
    parts = urlsplit(site_url)
    return f"{parts.scheme}://{parts.netloc}"


def site_host():
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def cached_reverse(viewname, args=(), kwargs=()):
    """``reverse(viewname, args, dict(kwargs))``, remembered per process.

    ``args`` and ``kwargs`` are tuples (``kwargs`` of pairs), so that they can
    be remembered. Keyed by the script prefix and the URLconf, as the
    address depends on them.
    """
    return _reverse(viewname, args, kwargs, *url_context())


@functools.lru_cache(maxsize=8192)
def _reverse(viewname, args, kwargs, script_prefix, urlconf):
    return reverse(
        viewname, args=args or None, kwargs=dict(kwargs) or None, urlconf=urlconf
    )


def slug_reverse(viewname, slug):
    """``reverse(viewname, args=[slug])``, for a view whose one argument is
    a slug.

    A page links tags, sections and authors by the dozen, and a reader (or a
    crawler) going through the archive meets thousands of them: more than
    ``cached_reverse()`` remembers, and ``reverse()`` costs more than the
    rest of a link's rendering. The address is reversed once per view, script
    prefix and URLconf with sample slugs, and a plain slug (what a slug field
    holds) is put in its place; anything else is reversed.
    """
    template = _slug_template(viewname, *url_context())
    if template is None or not PLAIN_SLUG.fullmatch(slug):
        return cached_reverse(viewname, (slug,))
    head, tail = template
    return f"{head}{slug}{tail}"


# What Django's slug converter and a SlugField accept: put into an address
# as it is.
PLAIN_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_SAMPLE_SLUGS = ("sample-slug", "Z_9")


@functools.lru_cache(maxsize=256)
def _slug_template(viewname, script_prefix, urlconf):
    """``(before, after)`` the slug in the view's address, or None if the
    view does not take any plain slug as it is."""
    templates = set()
    for sample in _SAMPLE_SLUGS:
        try:
            path = reverse(viewname, args=[sample], urlconf=urlconf)
        except NoReverseMatch:
            return None
        head, found, tail = path.rpartition(sample)
        if not found:
            return None
        templates.add((head, tail))
    return templates.pop() if len(templates) == 1 else None


@functools.lru_cache(maxsize=256)
def static_url(path):
    """``static(path)``, remembered per process.

    Every page asks for its style sheet, icon and logo, and the storage
    answers the same until the settings change: Django's manifest storage
    reads its manifest once, when first used, and ``settings.STATIC_URL``
    keeps the script prefix it was first read under.
    """
    return static(path)


def _forget_static_urls(*, setting, **kwargs):
    if setting.startswith("STATIC") or setting == "STORAGES":
        static_url.cache_clear()


setting_changed.connect(_forget_static_urls)


def current_urlconf():
    """The URLconf reverse() uses now: the request's, else ROOT_URLCONF.

    Part of the key of every remembered address, so that a test (or a
    request) with another URLconf never gets an address from the first.
    """
    return get_urlconf() or settings.ROOT_URLCONF


_url_context = contextvars.ContextVar("newsroom.site.url_context", default=None)


def url_context():
    """``(script prefix, URLconf)``: what a reversed address depends on, now.

    Django keeps both in asgiref locals, and reading them costs more than
    the rest of a remembered address: on a page of a hundred links, 5% of
    its time. A request that has been resolved has them fixed by
    ``URLContextMiddleware`` (``remember_url_context()``); anywhere else
    they are read from Django.
    """
    return _url_context.get() or _djangos_url_context()


def remember_url_context():
    """Fix ``url_context()`` to the current values, until ``forget_url_context()``."""
    _url_context.set(_djangos_url_context())


def forget_url_context():
    _url_context.set(None)


def _djangos_url_context():
    return get_script_prefix(), current_urlconf()
