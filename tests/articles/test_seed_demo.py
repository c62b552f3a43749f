"""The demo newsroom built by ``manage.py seed_demo``."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone

from articles.models import Article, Author, Byline, Correction, Photo, Section


def counts():
    return {
        model.__name__: model.objects.count()
        for model in (Section, Author, Photo, Article, Byline, Correction)
    }


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    """Seed once for the module (it takes seconds), inside a rolled-back block.

    Each test's own transaction nests in this one as a savepoint, so the tests
    see the demo and nothing they do leaks into the next one.
    """
    media = tmp_path_factory.mktemp("media")
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=media),
        transaction.atomic(),
    ):
        output = StringIO()
        call_command("seed_demo", stdout=output)
        yield output.getvalue()
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_builds_the_whole_newsroom(seeded):
    """Sections, authors with portraits, 120 illustrated stories of every kind."""
    assert "Demo newsroom ready" in seeded
    assert Section.objects.count() >= 6
    assert Author.objects.filter(photo__isnull=False).count() == 12
    articles = Article.objects.all()
    assert articles.count() == 120
    assert not articles.filter(lead_photo__isnull=True).exists()
    byline_counts = set(
        articles.annotate(n=Count("bylines")).values_list("n", flat=True)
    )
    assert byline_counts <= {1, 2, 3}
    assert articles.filter(status=Article.Status.DRAFT).count() >= 5
    assert articles.filter(status=Article.Status.IN_REVIEW).count() >= 3
    assert articles.filter(
        status=Article.Status.PUBLISHED, publish_at__gt=timezone.now()
    ).exists()
    assert articles.filter(is_featured=True).count() >= 5
    assert articles.filter(related__isnull=False).distinct().count() >= 20
    corrected = articles.filter(corrections__isnull=False).distinct()
    assert corrected.count() >= 5
    for article in corrected:
        correction = article.corrections.get()
        assert article.first_published_at < correction.date <= timezone.now()
        assert article.updated_at == correction.date
    assert not Photo.objects.filter(alt_text="").exists()
    assert not Photo.objects.filter(renditions=[]).exists()


@pytest.mark.django_db
def test_published_leaves_out_drafts_review_and_scheduled(seeded):
    """Only published stories whose time has come reach readers."""
    published = Article.objects.published()
    assert published.count() == 103
    assert not published.exclude(status=Article.Status.PUBLISHED).exists()
    assert not published.filter(publish_at__gt=timezone.now()).exists()
    scheduled = Article.objects.filter(
        status=Article.Status.PUBLISHED, publish_at__gt=timezone.now()
    )
    assert scheduled.count() == 4
    assert not published.filter(pk__in=scheduled).exists()


@pytest.mark.django_db
def test_bodies_are_rich_but_script_free(seeded):
    """Stored bodies use headings, lists, quotes and links, and never a script."""
    bodies = list(Article.objects.values_list("body", flat=True))
    assert not any("<script" in body.lower() for body in bodies)
    for element in ("<h2>", "<strong>", "<em>", "<ul>", "<ol>", "<blockquote>"):
        assert any(element in body for body in bodies), element
    assert any('href="https://example.org/' in body for body in bodies)


@pytest.mark.django_db
def test_running_again_changes_nothing(seeded):
    """A second run sees the demo and creates no duplicates."""
    before = counts()
    output = StringIO()
    call_command("seed_demo", stdout=output)
    assert "already there" in output.getvalue()
    assert counts() == before


@pytest.mark.django_db
def test_reset_rebuilds_the_same_demo(seeded):
    """--reset replaces the demo with a fresh, identical copy."""
    before = counts()
    old_ids = set(Article.objects.values_list("pk", flat=True))
    headlines = sorted(Article.objects.values_list("headline", flat=True))
    call_command("seed_demo", reset=True, stdout=StringIO())
    assert counts() == before
    assert old_ids.isdisjoint(Article.objects.values_list("pk", flat=True))
    assert sorted(Article.objects.values_list("headline", flat=True)) == headlines
