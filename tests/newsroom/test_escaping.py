"""The public site's templates escape every value exactly as MarkupSafe does
(``newsroom.jinja2.escape_value()``, a faster way to the same result)."""

import pytest
from django.template import engines
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy
from markupsafe import Markup, escape

from newsroom.jinja2 import escape_value


class _HasHTML:
    def __html__(self):
        return "<em>its own markup</em>"


class _Text(str):
    """A str subclass without __html__."""


VALUES = [
    "</script><script>alert(\"x\")</script> & 'quoted' <!--",
    "",
    "plain text",
    "☃ 日本 <b>",
    Markup("<b>already safe</b>"),
    mark_safe("<i>safe for Django</i>"),
    gettext_lazy("Home & <away>"),
    _HasHTML(),
    _Text("<u>subclass</u>"),
    42,
    3.5,
    None,
    ["<li>", "&"],
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_value_is_escaped_as_markupsafe_escapes_it(value):
    escaped = escape_value(value)

    assert type(escaped) is Markup
    assert escaped == escape(value)


def test_the_site_templates_escape_with_it():
    template = engines["jinja2"].env.from_string("<p>{{ text }}</p>{{ safe }}")

    html = template.render(text='<script>&"', safe=Markup("<b>kept</b>"))

    assert html == "<p>&lt;script&gt;&amp;&#34;</p><b>kept</b>"
    assert template.root_render_func.__globals__["escape"] is escape_value
