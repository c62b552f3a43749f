"""A listed story's card, rendered once per process and remembered
(``newsroom.jinja2.card_key()``): what readers see must never be an older
or another card than the one the story, the page and the reader call for."""

import datetime
import itertools
import os

import pytest
from django.core.files.storage import FileSystemStorage
from django.template import engines
from django.utils import timezone
from jinja2 import FileSystemLoader

from articles import reader
from articles.models import Article
from newsroom.jinja2 import environment
from tests.factories import make_article, make_author, make_photo, make_section

pytestmark = pytest.mark.django_db

NEW_YEAR_UTC = datetime.datetime(2026, 1, 1, 3, 30, tzinfo=datetime.UTC)
CARDS = engines["jinja2"].from_string(
    '{% from "includes/article_card.html" import cards %}'
    "{{ cards(articles, show_photo=show_photo) }}"
)


def render(articles, show_photo=False):
    return CARDS.render({"articles": articles, "show_photo": show_photo})


def listed(*stories):
    """The stories as a list loads them (``reader.cards()``), afresh."""
    return reader.cards("by-id", ids=[story.pk for story in stories])


def test_a_card_shows_its_story_as_last_edited():
    """A story, its section and its writer, edited since their card was
    last shown, show as edited on the next list."""
    section = make_section(name="Metro", slug="metro")
    author = make_author(name="Ann Lee", slug="ann-lee")
    story = make_article(section=section, authors=[author], headline="Flood")
    before = render(listed(story))
    assert ">Flood<" in before and ">Metro<" in before and ">Ann Lee<" in before

    story.headline = "Flood warning lifted"
    story.save()
    section.name = "City"
    section.save()
    author.name = "Ann Lee-Smith"
    author.save()
    after = render(listed(story))

    assert ">Flood warning lifted<" in after
    assert '<a href="/section/metro/">City</a>' in after
    assert ">Ann Lee-Smith<" in after


def test_a_list_shown_again_makes_no_story_of_a_remembered_card():
    """Cards are remembered by their stories' rows, so a list shown again
    unchanged reads its rows and makes nothing of them (``ListedStory``)."""
    stories = [make_article(authors=[make_author()]) for _ in range(2)]
    first = listed(*stories)
    shown = render(first)
    assert all(story._article is not None for story in first)  # rendered
    again = listed(*stories)
    assert render(again) == shown
    assert all(story._article is None for story in again)  # not made

    stories[1].headline = "Edited since"
    stories[1].save()
    edited = listed(*stories)
    assert "Edited since" in render(edited)
    made = {story.pk: story._article is not None for story in edited}
    assert made == {stories[0].pk: False, stories[1].pk: True}


def test_a_featured_card_with_its_photo_is_remembered_too():
    make_article(is_featured=True, lead_photo=make_photo(), headline="Pictured")
    shown = render(reader.cards("featured"), show_photo=True)
    assert "Pictured" in shown and "<img" in shown
    again = reader.cards("featured")
    assert render(again, show_photo=True) == shown
    assert again[0]._article is None


def test_a_listed_story_stands_for_its_article():
    story = make_article(headline="Standing in")
    [listed_story] = listed(story)
    assert listed_story.pk == story.pk
    assert listed_story.headline == "Standing in"
    assert listed_story == story and hash(listed_story) == hash(story)
    assert isinstance(listed_story.article, Article)
    with pytest.raises(AttributeError):
        listed_story.snippet = "a list that sets attributes loads eagerly"


def test_the_same_story_gets_the_card_each_list_asks_for(client):
    """The front page's section rails and a section's own page list the
    same story: as a third-level heading in the first, a second-level one
    (the page's first list) in the other."""
    section = make_section(name="Sport", slug="sport")
    make_article(section=section, headline="Cup final")

    # Compiling a template forgets every card: the archive's are compiled
    # here, the front page's by its request, so that the archive asked for
    # again meets the front page's cards, as in a process serving both.
    client.get("/section/sport/")
    front = client.get("/").content.decode()
    archive = client.get("/section/sport/?again").content.decode()

    assert '<h3 class="card-headline"><a href="/' in front
    assert '<h2 class="card-headline"><a href="/' in archive
    assert '<h3 class="card-headline">' not in archive


def test_a_card_shows_its_date_in_the_time_zone_of_its_render():
    story = make_article(publish_at=NEW_YEAR_UTC)
    with timezone.override("UTC"):
        utc = render(listed(story))
    with timezone.override("America/New_York"):
        new_york = render(listed(story))
    assert ">1 January 2026</time>" in utc
    assert ">31 December 2025</time>" in new_york


class SigningStorage(FileSystemStorage):
    """A storage whose addresses are signed anew each time, as S3's are."""

    signatures = itertools.count()

    def url(self, name):
        return f"{super().url(name)}?signature={next(self.signatures)}"


def test_a_card_whose_photo_address_expires_gets_a_fresh_one(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.SigningStorage"},
    }
    make_article(is_featured=True, lead_photo=make_photo(), headline="Eclipse")

    first = render(reader.cards("featured"), show_photo=True)
    second = render(reader.cards("featured"), show_photo=True)

    assert ">Eclipse<" in first and "?signature=" in first
    assert first != second


def test_a_card_template_edited_in_development_shows_at_once(tmp_path):
    """With templates reloaded when they change (DEBUG), an edited card
    replaces the remembered one on the next render."""
    template = tmp_path / "cards.html"
    source = (
        "{% for article in articles %}"
        "{% set key = article|card_key(False, False, 3) %}"
        "{% set remembered = key|remembered %}"
        "{% if remembered %}{{ remembered }}{% else %}"
        "{% set card %}VERSION {{ article.headline }}{% endset %}"
        "{{ card|remember(key) }}{% endif %}{% endfor %}"
    )
    template.write_text(source.replace("VERSION", "First"))
    env = environment(loader=FileSystemLoader(tmp_path), auto_reload=True)
    story = make_article(headline="Flood")
    assert env.get_template("cards.html").render(articles=listed(story)) == (
        "First Flood"
    )

    template.write_text(source.replace("VERSION", "Second"))
    later = template.stat().st_mtime + 10
    os.utime(template, (later, later))

    assert env.get_template("cards.html").render(articles=listed(story)) == (
        "Second Flood"
    )
