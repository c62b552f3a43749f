"""Caching of reader pages, and knowing when cached pages go stale.

Three layers (DESIGN §4):

* conditional GET: pages carry an ETag (and Last-Modified where a story
  says when it changed); ``ConditionalGetMiddleware`` answers 304;
* ``Cache-Control`` for a CDN or reverse proxy: short ``max-age``, longer
  ``s-maxage`` and ``stale-while-revalidate``;
* Django's cache for anonymous pages, keyed by the *content version*, a
  counter in the database bumped whenever a story, byline, correction,
  section, author or photo changes, and when a scheduled story's time comes.

Each process remembers the version for up to ``VERSION_TTL`` seconds, so a
cached page usually costs no query at all; a change made in this process is
seen at once, one made elsewhere within ``VERSION_TTL``.
"""

import functools
import hashlib
import threading
import time
from collections import OrderedDict
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Min
from django.http import HttpResponse
from django.template.response import SimpleTemplateResponse
from django.utils import timezone
from django.utils.cache import (
    get_conditional_response,
    patch_cache_control,
    set_response_etag,
)
from django.utils.http import parse_http_date_safe

from newsroom.cache import set_unacknowledged
from newsroom.middleware import is_conditional

VERSION_TTL = 1.0  # seconds
PAGE_TTL = 600  # seconds; a new version makes old pages unreachable anyway
BROWSER_MAX_AGE = 60
SHARED_MAX_AGE = 300
STALE_WHILE_REVALIDATE = 600
# A page, and a story's old address answering 301 to its new one: a story
# renamed after it was shared is reached through the old link by every
# reader who follows a share. Both change only with the content version.
CACHED_STATUSES = (200, 301)
CACHED_HEADERS = (
    "Location",
    "Content-Type",
    "Last-Modified",
    "Content-Language",
    "ETag",
    "Cache-Control",
    "X-Robots-Tag",
)
# What a 304 repeats of the page's headers: Django's list (RFC 9110 §15.4.5).
NOT_MODIFIED_HEADERS = (
    "Cache-Control",
    "Content-Location",
    "Date",
    "ETag",
    "Expires",
    "Last-Modified",
    "Vary",
)

_local = threading.local()


class RecentlyUsed:
    """The values this process used last, by key, up to ``limit`` of their
    ``weigh(value)``, least recently used first out; for any thread."""

    def __init__(self, limit, weigh):
        self.limit = limit
        self._weigh = weigh
        self._entries = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key):
        """The value put for ``key``, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def clear(self):
        with self._lock:
            self._entries.clear()
            self._size = 0

    def put(self, key, entry):
        """Keep ``entry`` for ``key`` (unless one is kept already, or it
        weighs more than ``limit``)."""
        size = self._weigh(entry)
        if size > self.limit:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = entry
            self._size += size
            while self._size > self.limit:
                _, oldest = self._entries.popitem(last=False)
                self._size -= self._weigh(oldest)


class RecentPages(RecentlyUsed):
    """The pages this process served last, by cache key, up to ``limit``
    bytes of body, least recently used first out.

    A page's key holds the content version, so an entry never goes stale: a
    change makes new keys, and the old entries age out. In front of a shared
    Redis it spares the hot pages (the front page, the story everyone is
    reading) a round trip and an unpickling each: under the benchmark's load
    a cached story from Redis cost the workers 2.6 ms of CPU, against 1.8
    from local memory.
    """

    def __init__(self, limit):
        super().__init__(limit, weigh=_body_bytes)


def _body_bytes(entry):
    status, content, headers = entry
    return len(content)


RECENT_PAGES_BYTES = 16 * 1024 * 1024  # per process: some 500 story pages
recent_pages = RecentPages(RECENT_PAGES_BYTES)


def for_content_version(key, compute):
    """``compute()``, remembered by this process for the current content
    version under ``key``.

    For what the desk works out from the content to show beside its list
    (the sections and writers its filters offer, the years it drills down
    by, its page count's estimate, and the parts of the page drawn from
    them): a query each, a tenth of the page together, and the same until
    something changes. Any change bumps the version (``articles.signals``),
    so a value is never read after it; as for every page, another process
    sees the new version within ``VERSION_TTL``. Not for the list's rows,
    which the desk reads afresh on every request (and whose HTML it
    remembers by what they show, see ``desk_results()``).
    """
    versioned_key = (content_version(), key)
    found = content_memos.get(versioned_key)
    if found is None:
        found = (compute(),)
        content_memos.put(versioned_key, found)
    return found[0]


content_memos = RecentlyUsed(256, weigh=lambda found: 1)


def content_version():
    """The current content version (an int), cheaply."""
    now = time.monotonic()
    memo = getattr(_local, "memo", None)
    if memo and memo[1] > now:
        return memo[0]
    version = _read_version()
    _local.memo = (version, now + VERSION_TTL)
    return version


def content_changed():
    """Call after a change readers can see; the bump waits for the commit."""
    transaction.on_commit(_bump)


def _read_version():
    from articles.models import ContentVersion

    row = (
        ContentVersion.objects.filter(pk=1)
        .values_list("version", "next_publish_at")
        .first()
    )
    if row is None:
        return _bump()
    version, next_publish_at = row
    if next_publish_at is not None and next_publish_at <= timezone.now():
        return _bump()
    return version


def _bump():
    from articles.models import Article, ContentVersion

    now = timezone.now()
    next_publish_at = Article.objects.filter(
        status=Article.Status.PUBLISHED, publish_at__gt=now
    ).aggregate(next=Min("publish_at"))["next"]
    updated = ContentVersion.objects.filter(pk=1).update(
        version=F("version") + 1, next_publish_at=next_publish_at, changed_at=now
    )
    if not updated:
        ContentVersion.objects.get_or_create(
            pk=1, defaults={"next_publish_at": next_publish_at, "changed_at": now}
        )
    version = ContentVersion.objects.values_list("version", flat=True).get(pk=1)
    _local.memo = (version, time.monotonic() + VERSION_TTL)
    return version


def _is_anonymous(request):
    # Checking the cookie, not request.user, keeps a cache hit free of a
    # session query; signed-in staff always get a fresh page.
    return settings.SESSION_COOKIE_NAME not in request.COOKIES


# Parameters that analytics add to links and no page reads: the campaign
# tags of newsletters and ads (utm_*), and the click ids of social networks
# and ad platforms, new on every click (a story shared on Facebook is opened
# as /story/?fbclid=...). With them in the key, every reader arriving from
# a share would miss the cache.
TRACKING_PREFIXES = ("utm_",)
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "twclid",
        "ttclid",
        "igshid",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
    }
)


def _page_address(request):
    """The page's path and query string, less the tracking parameters.

    Every other parameter stays, as it came, even one no view reads: the
    views read only ``page`` (and search, which is not cached, ``q``), but
    an unknown parameter is not assumed to be harmless.
    """
    address = request.get_full_path()
    path, _, query = address.partition("?")
    if not query:
        return address
    kept = [part for part in query.split("&") if not _is_tracking(part)]
    return f"{path}?{'&'.join(kept)}" if kept else path


def _is_tracking(part):
    name = unquote_plus(part.partition("=")[0])
    return name in TRACKING_PARAMETERS or name.startswith(TRACKING_PREFIXES)


def cache_public_page(view):
    """Serve anonymous GETs of ``view`` from the page cache, with CDN headers.

    For the reader's pages, feeds and sitemaps: ``view`` may be any view
    callable (a ``Feed`` instance, Django's sitemap view).

    A page is stored with its finished headers, ETag included, so that a hit
    is a dictionary lookup and a copy: no hashing of the body, no parsing of
    ``Cache-Control``. ``ConditionalGetMiddleware`` answers 304 from that ETag.
    The page is cached under its address less the tracking parameters
    (``TRACKING_PARAMETERS``): /story/?fbclid=... is /story/. A story's old
    address answering 301 is cached as a page is (``CACHED_STATUSES``).
    """

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD") or not _is_anonymous(request):
            response = view(request, *args, **kwargs)
            patch_cache_control(response, private=True, no_cache=True)
            return response
        path = hashlib.sha256(_page_address(request).encode()).hexdigest()
        # "page3": entries hold their status and finished headers (ETag,
        # Cache-Control, Location).
        key = f"page3:{content_version()}:{path}"
        cached = recent_pages.get(key)
        if cached is None:
            cached = cache.get(key)
            if cached is not None:
                recent_pages.put(key, cached)
        if cached is not None:
            status, content, headers = cached
            if status == 200 and request.method == "GET" and is_conditional(request):
                answer = _conditional_answer(request, headers)
                if answer is not None:
                    return answer
            response = HttpResponse(content, status=status, headers=headers)
            response["X-Cache"] = "hit"
            return response
        response = view(request, *args, **kwargs)
        if isinstance(response, SimpleTemplateResponse):
            response.render()  # a sitemap renders lazily; it is stored whole
        if response.status_code in CACHED_STATUSES:
            # For a 301 too: without a lifetime, browsers keep a permanent
            # redirect for good, and one undone by an editor would be kept.
            patch_cache_control(
                response,
                public=True,
                max_age=BROWSER_MAX_AGE,
                s_maxage=SHARED_MAX_AGE,
                stale_while_revalidate=STALE_WHILE_REVALIDATE,
            )
            if not response.streaming:
                if response.status_code == 200:
                    set_response_etag(response)
                headers = {h: response[h] for h in CACHED_HEADERS if h in response}
                entry = (response.status_code, response.content, headers)
                set_unacknowledged(cache, key, entry, PAGE_TTL)
                recent_pages.put(key, entry)
        response["X-Cache"] = "miss"
        return response

    return wrapper


def _conditional_answer(request, headers):
    """The answer to a conditional GET of a cached page from its stored
    validators: a 304 (or a 412), or None when the page itself is the answer.

    ``ConditionalGetMiddleware`` would give the same answer (through the same
    ``get_conditional_response()``), but only after the page's response was
    built from the cache: a browser or CDN revalidating gets its 304 for the
    cost of the lookup.
    """
    meta = request.META
    last_modified = None
    if "HTTP_IF_MODIFIED_SINCE" in meta or "HTTP_IF_UNMODIFIED_SINCE" in meta:
        last_modified = parse_http_date_safe(headers.get("Last-Modified", ""))
    answer = get_conditional_response(
        request, etag=headers.get("ETag"), last_modified=last_modified
    )
    if answer is not None and answer.status_code == 304:
        for name in NOT_MODIFIED_HEADERS:
            if name in headers:
                answer[name] = headers[name]
    return answer
