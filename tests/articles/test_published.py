from datetime import timedelta

import pytest
from django.utils import timezone

from articles.models import Article
from tests.factories import make_article

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "offset", "visible"),
    [
        (Article.Status.PUBLISHED, -1, True),
        (Article.Status.PUBLISHED, +1, False),
        (Article.Status.DRAFT, -1, False),
        (Article.Status.DRAFT, +1, False),
        (Article.Status.IN_REVIEW, -1, False),
        (Article.Status.IN_REVIEW, +1, False),
    ],
)
def test_published_at_its_boundaries(status, offset, visible):
    """Only a published story whose time has come is visible, to the second."""
    publish_at = timezone.now() + timedelta(seconds=offset)
    article = make_article(status=status, publish_at=publish_at)
    assert (article in Article.objects.published()) is visible


def test_first_published_at_is_set_once():
    """Later edits, unpublishing and republishing never move the first date."""
    article = make_article(publish_at=timezone.now() - timedelta(days=3))
    first = article.first_published_at
    url = article.get_absolute_url()
    article.status = Article.Status.DRAFT
    article.save()
    article.status = Article.Status.PUBLISHED
    article.publish_at = timezone.now()
    article.headline = "A new headline"
    article.save()
    article.refresh_from_db()
    assert article.first_published_at == first
    assert article.get_absolute_url() == url


def test_rescheduling_before_going_live_moves_the_date():
    """A scheduled story that has not gone live follows its schedule."""
    article = make_article(publish_at=timezone.now() + timedelta(days=2))
    article.publish_at = timezone.now() + timedelta(days=5)
    article.save()
    assert article.first_published_at == article.publish_at
    assert article.url_date == timezone.localdate(article.publish_at)


def test_url_uses_the_first_publication_date_in_the_site_time_zone(settings):
    """23:30 UTC on the 1st is the 2nd in Berlin; the address says the 2nd."""
    settings.TIME_ZONE = "Europe/Berlin"
    when = timezone.datetime(2026, 3, 1, 23, 30, tzinfo=timezone.UTC)
    article = make_article(slug="late-night", publish_at=when)
    assert article.get_absolute_url() == "/2026/03/02/late-night/"
