"""byline(): "By A, B and C" under every headline, each name a link."""

import pytest
from django.template import engines
from django.urls import clear_script_prefix, set_script_prefix

from articles.models import Author, Byline


def render(bylines):
    return (
        engines["jinja2"]
        .from_string("{{ byline(bylines) }}")
        .render({"bylines": bylines})
    )


def bylines(*names):
    lines = []
    for position, name in enumerate(names):
        line = Byline(position=position)
        line.author = Author(name=name, slug=f"author-{position}")
        lines.append(line)
    return lines


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ((), ""),
        (("Ann",), "By Ann"),
        (("Ann", "Bo"), "By Ann and Bo"),
        (("Ann", "Bo", "Cy"), "By Ann, Bo and Cy"),
        (("Ann", "Bo", "Cy", "Di"), "By Ann, Bo, Cy and Di"),
    ],
)
def test_names_are_joined_as_english_lists_them(names, expected):
    html = render(bylines(*names))

    if not names:
        assert html == ""
        return
    assert html.startswith('<p class="byline">By <a href="/author/author-0/">')
    text = html.replace("</a>", "")
    for position in range(len(names)):
        text = text.replace(f'<a href="/author/author-{position}/">', "")
    assert text == f'<p class="byline">{expected}</p>'


def test_names_are_escaped():
    html = render(bylines('<script>alert("x")</script> & Co'))

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in html


def test_a_renamed_writer_is_credited_by_the_new_name():
    """Bylines are remembered per process: by what they show, not by whom."""
    lines = bylines("Ann Old")
    assert ">Ann Old</a>" in render(lines)

    lines[0].author.name = "Ann New"

    assert ">Ann New</a>" in render(lines)
    assert "Ann Old" not in render(lines)


def test_links_follow_the_script_prefix():
    """A site served under a prefix links its writers under it, even after
    the same byline was shown without one."""
    assert '<a href="/author/author-0/">' in render(bylines("Ann"))
    set_script_prefix("/news/")
    try:
        html = render(bylines("Ann"))
    finally:
        clear_script_prefix()

    assert '<a href="/news/author/author-0/">' in html
