"""What is measured, in the order each repetition runs it.

Plain data, shared by ``bench/run.py`` (which loads each with wrk) and
``bench/prep.py`` (which counts each page's queries with Django's test client).

Modes:

* ``fixed``   the same URL every request (a cached page once warm);
* ``bust``    the same page with a unique ``?v=`` per request: the page cache
              is keyed by the full path, so it never hits (uncached);
* ``random``  a story chosen at random per request among every published one,
              also with a unique ``?v=`` (uncached);
* ``etag``    a repeated request with the page's ETag in If-None-Match (304);
* ``signup``  the signup POST with a CSRF cookie and token, a new address each;
* ``admin``   logged in (session cookie), so never from the page cache.
"""

CACHED = "page cache"
UNCACHED = "uncached"
NOT_CACHED = "-"  # a view the page cache does not apply to
# The "shared" mode: the article as opened from a social network's share,
# with a new click id on every request (the page cache leaves it out).
SHARED_PARAMETER = "fbclid"


def build(targets):
    """The scenarios for a bench database's ``targets`` (see prep.py)."""
    article = targets["article_path"]
    section = targets["section_path"]
    tag = targets["tag_path"]
    author = targets["author_path"]
    search = "/search/?q="
    scenarios = [
        _s("floor", "Floor: minimal Django view, same bytes", NOT_CACHED, "fixed",
           targets["floor_path"], group="baseline"),
        _s("limit", "Limit: the article's HTML, static from nginx", NOT_CACHED,
           "fixed", "/bench-limit/article.html", server="nginx", group="baseline"),
        _s("proxy", "Article behind the nginx micro-cache", "nginx micro-cache",
           "fixed", article, server="nginx", queries=False),
        _s("home-u", "Home", UNCACHED, "bust", "/"),
        _s("home-c", "Home", CACHED, "fixed", "/"),
        _s("article-u", "Article (random of all)", UNCACHED, "random", None),
        _s("article-c", "Article", CACHED, "fixed", article),
        _s("article-shared-c", "Article from a shared link (new ?fbclid= each)",
           CACHED, "shared", article),
        _s("article-304", "Article, If-None-Match", "304", "etag", article),
        _s("section1-u", "Section page 1", UNCACHED, "bust", section),
        _s("section1-c", "Section page 1", CACHED, "fixed", section),
        _s("section1000-u", "Section page 1,000", UNCACHED, "bust",
           section + "?page=1000"),
        _s("section1000-c", "Section page 1,000", CACHED, "fixed",
           section + "?page=1000"),
        _s("tag-u", "Tag page", UNCACHED, "bust", tag),
        _s("tag-c", "Tag page", CACHED, "fixed", tag),
        _s("author-u", "Author page", UNCACHED, "bust", author),
        _s("author-c", "Author page", CACHED, "fixed", author),
        _s("search-common", f"Search, common term ({targets['common_term']})",
           NOT_CACHED, "fixed", search + targets["common_term"]),
        _s("search-rare", f"Search, rare term ({targets['rare_term']})",
           NOT_CACHED, "fixed", search + targets["rare_term"]),
        _s("feed-u", "Site feed (RSS)", UNCACHED, "bust", "/feeds/rss/"),
        _s("feed-c", "Site feed (RSS)", CACHED, "fixed", "/feeds/rss/"),
        _s("news-sitemap-u", "News sitemap", UNCACHED, "bust", "/news-sitemap.xml"),
        _s("news-sitemap-c", "News sitemap", CACHED, "fixed", "/news-sitemap.xml"),
        _s("signup", "Newsletter signup POST (303 to check your inbox)",
           NOT_CACHED, "signup", "/newsletter/subscribe/"),
        _s("check-inbox", "Check-your-inbox page (the signup's next GET)",
           NOT_CACHED, "fixed", "/newsletter/check-inbox/"),
        _s("admin", "Admin changelist (logged in)", NOT_CACHED, "admin",
           "/admin/articles/article/"),
        _s("admin-search", f"Admin search ({targets['common_term']})", NOT_CACHED,
           "admin", "/admin/articles/article/?q=" + targets["common_term"]),
    ]  # fmt: skip
    return scenarios


def _s(key, page, cache, mode, path, *, server="django", group="page", queries=True):
    return {
        "key": key,
        "page": page,
        "cache": cache,
        "mode": mode,
        "path": path,
        "server": server,
        "group": group,
        "queries": queries and server == "django",
    }


# The targets: (label, how to compute the measured value, minimum).
# Values are computed by run.py from the medians; see ``evaluate`` there.
