from django.core.cache import cache

from articles.caching import content_version
from articles.models import Section


def navigation(request):
    """The sections for the site's navigation, cached per content version.

    A callable, so pages that never show the navigation never pay for it.
    """

    def sections():
        return cache.get_or_set(
            f"nav-sections:{content_version()}",
            lambda: [(s.name, s.get_absolute_url()) for s in Section.objects.all()],
            600,
        )

    return {"nav_sections": sections}
