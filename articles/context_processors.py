import functools
import hashlib

from django.core.cache import cache
from django.utils.html import format_html_join

from articles.caching import content_version
from articles.models import Section
from newsroom.site import url_context


def navigation(request):
    """The sections' links for the site's navigation, cached per content version
    (and per script prefix and URLconf, which the links depend on).

    Cached as finished HTML (escaped here, by ``format_html_join``): every
    page shows the fifty-odd links, and a template loop over them costs more
    than the rest of a small page. A callable, so pages that never show the
    navigation never pay for it. Each process keeps its own copy of the
    links of the current version (``_LINKS``): the cache's copy costs a
    look-up and an unpickling on every page, 0.7% of a story page.
    """

    def section_links():
        key = f"nav-sections:{content_version()}:{_key(url_context())}"
        links = _LINKS.get(key)
        if links is None:
            links = cache.get_or_set(
                key,
                lambda: format_html_join(
                    "",
                    '<li><a href="{}">{}</a></li>',
                    ((s.get_absolute_url(), s.name) for s in Section.objects.all()),
                ),
                600,
            )
            if len(_LINKS) >= 16:
                _LINKS.clear()  # links of versions gone by
            _LINKS[key] = links
        return links

    return {"nav_section_links": section_links}


# The navigation's links by cache key; a key names a content version, whose
# links never change.
_LINKS = {}


@functools.lru_cache(maxsize=16)
def _key(context):
    return hashlib.sha256(repr(context).encode()).hexdigest()[:16]
