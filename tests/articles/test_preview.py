from datetime import timedelta
from unittest import mock

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from articles import services
from articles.models import Article
from tests.factories import make_article

pytestmark = pytest.mark.django_db


def test_preview_works_without_a_login(client):
    """A shared preview link shows a draft to someone with no account."""
    article = make_article(status=Article.Status.DRAFT, headline="Embargoed scoop")
    response = client.get(services.preview_url(article))
    assert response.status_code == 200
    assert b"Embargoed scoop" in response.content
    assert b"Preview" in response.content
    assert response["X-Robots-Tag"].startswith("noindex")
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_preview_expires_after_seven_days(client):
    """A link older than 7 days is refused."""
    article = make_article(status=Article.Status.DRAFT, headline="Old news")
    url = services.preview_url(article)
    eight_days = services.PREVIEW_MAX_AGE + timedelta(days=1).total_seconds()
    real_time = signing.time.time
    with mock.patch.object(signing.time, "time", lambda: real_time() + eight_days):
        response = client.get(url)
    assert response.status_code == 404
    assert b"Old news" not in response.content


def test_forged_preview_is_refused(client):
    """A token not signed by us shows nothing."""
    article = make_article(status=Article.Status.DRAFT, headline="Secret")
    forged = signing.dumps(article.pk, key="not-our-key", salt=services.PREVIEW_SALT)
    for token in [
        forged,
        "garbage",
        services.preview_url(article).split("/")[-2] + "x",
    ]:
        response = client.get(reverse("articles:preview", kwargs={"token": token}))
        assert response.status_code == 404
        assert b"Secret" not in response.content


def test_preview_of_a_deleted_story_is_refused(client):
    """The link outlives the story: the invalid-link page, not an error."""
    article = make_article(status=Article.Status.DRAFT)
    url = services.preview_url(article)
    article.delete()

    response = client.get(url)

    assert response.status_code == 404
    assert "not valid" in response.text


def test_preview_runs_the_story_pages_queries(client):
    """A preview costs what the story's own page does, one query (the story
    with its related stories): the token is checked without a query."""
    article = make_article(tags=["budget"])
    client.get(reverse("articles:search"))  # content version, navigation
    # The section's newest stories, which both pages remember (reader.rails).
    client.get(article.get_absolute_url() + "?warm-up")

    with CaptureQueriesContext(connection) as page:
        assert client.get(article.get_absolute_url()).status_code == 200
    with CaptureQueriesContext(connection) as preview:
        assert client.get(services.preview_url(article)).status_code == 200

    assert len(preview.captured_queries) == len(page.captured_queries) == 1
