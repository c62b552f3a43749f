"""Sitemaps for search engines: stories, sections, authors, and Google News.

Only what readers can see is listed (``Article.objects.published()``), at
absolute addresses on ``settings.SITE_URL`` whatever host the request used.
The index is ``/sitemap.xml``; the news sitemap (stories first published in
the last 48 hours) is ``/news-sitemap.xml``. Both are named in robots.txt.
"""

import dataclasses
import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.contrib.sitemaps import views as sitemap_views
from django.contrib.sites.shortcuts import get_current_site
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from articles.models import Article, Author, Section
from newsroom.site import absolute_url

NEWS_WINDOW = datetime.timedelta(hours=48)


def _to_the_second(moment):
    return moment.replace(microsecond=0) if moment else None


def _latest_publication(**lookups):
    """A subquery: when the newest published story matching ``lookups`` went live."""
    return Subquery(
        Article.objects.published()
        .filter(**lookups)
        .order_by("-publish_at")
        .values("publish_at")[:1]
    )


class SiteURLSitemap(Sitemap):
    """Locations on SITE_URL (Django would use the sites framework or the
    request's host)."""

    @property
    def protocol(self):
        return urlsplit(settings.SITE_URL).scheme

    def get_domain(self, site=None):
        return urlsplit(settings.SITE_URL).netloc

    def get_latest_lastmod(self):
        # Django's version gives up (None) when one item has no lastmod.
        return max(filter(None, map(self.lastmod, self.items())), default=None)


class ArticleSitemap(SiteURLSitemap):
    """Every published story, newest first, with its "Updated" time."""

    def items(self):
        return Article.objects.published().only(
            "slug", "url_date", "updated_at", "first_published_at"
        )

    def lastmod(self, article):
        return _to_the_second(article.last_modified)

    def get_latest_lastmod(self):
        # One query, not one row per story.
        latest = self.items().aggregate(
            updated=Max("updated_at"), published=Max("first_published_at")
        )
        return _to_the_second(max(filter(None, latest.values()), default=None))


class SectionSitemap(SiteURLSitemap):
    """Every section; lastmod is when its newest story went live."""

    def items(self):
        return Section.objects.annotate(
            latest_publish_at=_latest_publication(section=OuterRef("pk"))
        )

    def lastmod(self, section):
        return _to_the_second(section.latest_publish_at)


class AuthorSitemap(SiteURLSitemap):
    """Authors with at least one published story, in one query."""

    def items(self):
        return Author.objects.annotate(
            latest_publish_at=_latest_publication(bylines__author=OuterRef("pk"))
        ).filter(latest_publish_at__isnull=False)

    def lastmod(self, author):
        return _to_the_second(author.latest_publish_at)


class NewsSitemap(SiteURLSitemap):
    """Google News: stories first published in the last 48 hours.

    https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap
    """

    limit = 1000  # Google's maximum per news sitemap

    def items(self):
        since = timezone.now() - NEWS_WINDOW
        return (
            Article.objects.published()
            .filter(first_published_at__gte=since)
            .defer("body", "search_vector")
            # In the order of its index: the walk stops at the window's edge.
            .order_by("-first_published_at", "-pk")
        )

    def get_urls(self, page=1, site=None, protocol=None):
        urls = super().get_urls(page=page, site=site, protocol=protocol)
        publication = {
            "name": settings.SITE_NAME,
            "language": news_language(settings.LANGUAGE_CODE),
        }
        for url in urls:
            article = url["item"]
            url["news"] = {
                "publication": publication,
                "publication_date": _to_the_second(article.first_published_at),
                "title": article.headline,
            }
        return urls


def news_language(language_code):
    """Google News wants ISO 639 ("en"), except zh-cn and zh-tw for Chinese."""
    code = language_code.lower()
    chinese = {
        "zh-hans": "zh-cn",
        "zh-cn": "zh-cn",
        "zh-hant": "zh-tw",
        "zh-tw": "zh-tw",
    }
    return chinese.get(code, code.split("-")[0])


SITEMAPS = {
    "articles": ArticleSitemap,
    "sections": SectionSitemap,
    "authors": AuthorSitemap,
}
NEWS_SITEMAPS = {"news": NewsSitemap}


def sitemap_index(request, **kwargs):
    """The sitemap index: Django's view, with its entries on SITE_URL.

    Django builds each entry from the request's host; the sitemaps' own
    protocol is already SITE_URL's, so only the host part is swapped.
    """
    response = sitemap_views.index(request, **kwargs)
    request_origin = (
        f"{urlsplit(settings.SITE_URL).scheme}://{get_current_site(request).domain}"
    )
    response.context_data["sitemaps"] = [
        dataclasses.replace(
            entry, location=absolute_url(entry.location.removeprefix(request_origin))
        )
        for entry in response.context_data["sitemaps"]
    ]
    return response
