"""The "Related" rail under a story: the editor's picks, then stories sharing
the most tags, then the newest of the section; never the story itself or
anything unpublished."""

from datetime import timedelta

import pytest
from django.utils import timezone

from articles import reader
from articles.models import Article
from tests.factories import make_article, make_section

pytestmark = pytest.mark.django_db


def test_picks_then_shared_tags_then_section_then_recency():
    news, sport = make_section(), make_section()
    now = timezone.now()
    story = make_article(section=news, tags=["flood", "council", "budget"])
    picked = make_article(section=sport, publish_at=now - timedelta(days=900))
    story.related.add(picked)
    two_tags = make_article(
        section=sport, tags=["flood", "council"], publish_at=now - timedelta(days=30)
    )
    one_tag_old = make_article(
        section=sport, tags=["budget"], publish_at=now - timedelta(days=20)
    )
    one_tag_new = make_article(
        section=sport, tags=["flood"], publish_at=now - timedelta(days=10)
    )
    same_section = make_article(section=news, publish_at=now - timedelta(days=5))
    make_article(section=sport, tags=["unrelated"])  # shares nothing
    make_article(
        section=news,
        tags=["flood", "council", "budget"],
        status=Article.Status.DRAFT,
    )

    related = reader.related_stories(story)

    assert related == [picked, two_tags, one_tag_new, one_tag_old, same_section]
    # Each shows its own section's name beside its headline.
    assert [story.section_name for story in related] == [sport.name] * 4 + [news.name]


def test_a_popular_tag_does_not_crowd_out_a_rare_one():
    """An old story sharing two rare tags outranks hundreds sharing a common one."""
    close = make_article(
        section=make_section(),
        tags=["rare", "rarer"],
        publish_at=timezone.now() - timedelta(days=400),
    )
    section = make_section()
    for _ in range(reader.RELATED_TAG_CANDIDATES + 5):
        make_article(section=section, tags=["common"])
    story = make_article(section=make_section(), tags=["common", "rare", "rarer"])

    related = reader.related_stories(story)

    assert related[0] == close
    assert len(related) == reader.RELATED_COUNT


def test_more_from_the_section_leaves_out_the_story_and_the_related_ones():
    """The section's newest published stories, five at most, none of them
    the story itself or already in the related rail."""
    news = make_section()
    now = timezone.now()
    story = make_article(section=news, tags=["flood"], publish_at=now - timedelta(99))
    related = make_article(section=news, tags=["flood"], publish_at=now - timedelta(1))
    newest = [
        make_article(section=news, publish_at=now - timedelta(days, hours=1))
        for days in range(2, 9 + reader.RELATED_COUNT)
    ]
    make_article(section=news, status=Article.Status.DRAFT)
    make_article(section=news, publish_at=now + timedelta(days=1))  # scheduled
    make_article(section=make_section())  # another section

    rail, more = reader.rails(story)

    assert rail[0] == related
    assert related not in more and story not in more
    assert more == [a for a in newest if a not in rail][: reader.MORE_COUNT]
    assert len(more) == reader.MORE_COUNT
    assert {story.section_name for story in rail + more} == {news.name}


def test_the_rails_follow_a_story_published_or_withdrawn_since(
    django_capture_on_commit_callbacks,
):
    """A section's newest stories are remembered between pages, but never
    past a change: a story published in the section shows up under the
    next page, and is gone again once it is withdrawn."""
    news = make_section()
    story = make_article(section=news, publish_at=timezone.now() - timedelta(days=1))
    assert reader.rails(story) == ([], [])

    with django_capture_on_commit_callbacks(execute=True):
        fresh = make_article(section=news)
    assert reader.rails(story) == ([fresh], [])

    with django_capture_on_commit_callbacks(execute=True):
        fresh.status = Article.Status.DRAFT
        fresh.save()
    assert reader.rails(story) == ([], [])


def test_a_loaded_story_brings_its_related_stories_along(django_assert_num_queries):
    """A story loaded for its page has its related stories from the same
    query: the rails cost no query of their own, and show the same
    stories, with the same dates and section names, as for any story."""
    news, sport = make_section(), make_section()
    now, day = timezone.now(), timedelta(days=1)
    story = make_article(section=news, tags=["flood", "council"])
    story.related.add(make_article(section=sport, publish_at=now - 9 * day))
    make_article(section=sport, tags=["flood", "council"], publish_at=now - day)
    make_article(section=sport, tags=["council"], publish_at=now - 2 * day)
    make_article(section=news, publish_at=now - 3 * day)
    reader.section_newest(news.pk)  # remembered between pages

    with django_assert_num_queries(1):
        loaded = reader.story(story.url_date, story.slug)
    with django_assert_num_queries(0):
        rail, more = reader.rails(loaded)

    assert (rail, more) == reader.rails(story)
    shown = [(s.headline, s.publish_at, s.url_date, s.section_name) for s in rail]
    expected = [
        (s.headline, s.publish_at, s.url_date, s.section.name)
        for s in Article.objects.filter(pk__in=[s.pk for s in rail])
    ]
    assert sorted(shown) == sorted(expected)
    assert len(rail) == 4
