from django.urls import path, register_converter

from articles import feeds, views


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


class TagSlugConverter:
    """A tag's slug: taggit keeps letters with accents in it ("são-paulo"),
    which Django's ``slug`` converter (ASCII) refuses."""

    regex = r"[-\w]+"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(YearConverter, "yyyy")
register_converter(TwoDigitConverter, "dd")
register_converter(TagSlugConverter, "tagslug")

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
    path("tag/<tagslug:slug>/", views.tag_detail, name="tag"),
    path("search/", views.search, name="search"),
    path("feeds/rss/", feeds.LatestFeed(), name="feed-rss"),
    path("feeds/atom/", feeds.LatestAtomFeed(), name="feed-atom"),
    path("section/<slug:slug>/rss/", feeds.SectionFeed(), name="section-feed-rss"),
    path(
        "section/<slug:slug>/atom/", feeds.SectionAtomFeed(), name="section-feed-atom"
    ),
    path("author/<slug:slug>/rss/", feeds.AuthorFeed(), name="author-feed-rss"),
    path("author/<slug:slug>/atom/", feeds.AuthorAtomFeed(), name="author-feed-atom"),
    path("tag/<tagslug:slug>/rss/", feeds.TagFeed(), name="tag-feed-rss"),
    path("tag/<tagslug:slug>/atom/", feeds.TagAtomFeed(), name="tag-feed-atom"),
    path("preview/<str:token>/", views.article_preview, name="preview"),
]
