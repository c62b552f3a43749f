"""The byline filter: "By A, B and C" under every headline, each name a link."""

import pickle

import pytest
from django.template import engines
from django.urls import clear_script_prefix, reverse, set_script_prefix

from articles import reader
from articles.models import Author, Byline
from tests.factories import make_article, make_author


def render(bylines):
    return (
        engines["jinja2"]
        .from_string("{{ bylines|byline }}")
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


@pytest.mark.django_db
def test_a_list_credits_the_writers_in_order_and_follows_a_rename(
    client, django_capture_on_commit_callbacks
):
    """A section page's cards show each story's bylines in their order, and
    a writer renamed since is credited by the new name."""
    first, second = make_author(name="Ann Old"), make_author(name="Bo Second")
    article = make_article(authors=[second, first])
    Byline.objects.filter(author=first).update(position=0)
    Byline.objects.filter(author=second).update(position=1)
    page = reverse("articles:section", args=[article.section.slug])

    html = client.get(page).content.decode()
    assert (
        f'<p class="byline">By <a href="/author/{first.slug}/">Ann Old</a>'
        f' and <a href="/author/{second.slug}/">Bo Second</a></p>'
    ) in html

    first.name = "Ann New"
    with django_capture_on_commit_callbacks(execute=True):
        first.save()  # a new content version: the page is made afresh

    html = client.get(page).content.decode()
    assert f'<a href="/author/{first.slug}/">Ann New</a> and' in html
    assert "Ann Old" not in html


@pytest.mark.django_db
def test_a_listed_storys_bylines_read_as_instances_without_queries(
    django_assert_num_queries,
):
    first, second = make_author(name="Ann"), make_author(name="Bo")
    article = make_article(authors=[first, second])
    [listed] = reader.cards("by-id", ids=[article.pk])

    with django_assert_num_queries(0):
        bylines = listed.ordered_bylines
        assert len(bylines) == 2 and bylines
        assert [line.author.name for line in bylines] == ["Ann", "Bo"]
        assert bylines[1].author.get_absolute_url() == second.get_absolute_url()
        assert listed.authors == [bylines[0].author, bylines[1].author]
    assert bylines == list(article.bylines.order_by("position"))
    copy = pickle.loads(pickle.dumps(listed))  # noqa: S301 - our own bytes
    assert [line.author.name for line in copy.ordered_bylines] == ["Ann", "Bo"]


@pytest.mark.django_db
def test_a_listed_story_without_bylines_shows_none(client):
    """A story nobody signed (an agency story, say) lists with no "By"."""
    unsigned = make_article(headline="Unsigned story", authors=[])
    [listed] = reader.cards("by-id", ids=[unsigned.pk])

    assert not listed.ordered_bylines
    assert len(listed.ordered_bylines) == 0
    assert list(listed.ordered_bylines) == []
    html = client.get(reverse("articles:section", args=[unsigned.section.slug]))
    card = html.content.decode().split("Unsigned story", 1)[1].split("</article>")[0]
    assert 'class="byline"' not in card
