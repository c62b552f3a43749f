from django.urls import path, register_converter

from articles import views


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
    path("preview/<str:token>/", views.article_preview, name="preview"),
]
