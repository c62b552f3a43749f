from django.urls import path, register_converter

from articles import feeds, views
from articles.caching import cache_public_page


class FixedDigitsConverter:
    """Exactly the digits of a date part, kept as a string (e.g. "07")."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.regex = rf"[0-9]{{{cls.digits}}}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return f"{int(value):0{self.digits}d}"


class YearConverter(FixedDigitsConverter):
    digits = 4


class TwoDigitConverter(FixedDigitsConverter):
    digits = 2


register_converter(YearConverter, "yyyy")
register_converter(TwoDigitConverter, "dd")

app_name = "articles"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "<yyyy:year>/<dd:month>/<dd:day>/<slug:slug>/",
        views.article_detail,
        name="detail",
    ),
    path("section/<slug:slug>/", views.section_detail, name="section"),
    path("author/<slug:slug>/", views.author_detail, name="author"),
    path("tag/<slug:slug>/", views.tag_detail, name="tag"),
    path("search/", views.search, name="search"),
    path("feeds/rss/", cache_public_page(feeds.LatestFeed()), name="feed-rss"),
    path("feeds/atom/", cache_public_page(feeds.LatestAtomFeed()), name="feed-atom"),
    path(
        "section/<slug:slug>/rss/",
        cache_public_page(feeds.SectionFeed()),
        name="section-feed-rss",
    ),
    path(
        "section/<slug:slug>/atom/",
        cache_public_page(feeds.SectionAtomFeed()),
        name="section-feed-atom",
    ),
    path(
        "author/<slug:slug>/rss/",
        cache_public_page(feeds.AuthorFeed()),
        name="author-feed-rss",
    ),
    path(
        "author/<slug:slug>/atom/",
        cache_public_page(feeds.AuthorAtomFeed()),
        name="author-feed-atom",
    ),
    path(
        "tag/<slug:slug>/rss/", cache_public_page(feeds.TagFeed()), name="tag-feed-rss"
    ),
    path(
        "tag/<slug:slug>/atom/",
        cache_public_page(feeds.TagAtomFeed()),
        name="tag-feed-atom",
    ),
    path("preview/<str:token>/", views.article_preview, name="preview"),
]
