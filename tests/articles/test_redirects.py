import datetime

import pytest
from django.urls import set_script_prefix

from articles.models import Article, _reverse_article_path, article_path
from tests.factories import make_article

pytestmark = pytest.mark.django_db


def test_old_url_answers_301_after_a_slug_change(client):
    """Links shared before a slug change still reach the story."""
    article = make_article(slug="first-slug")
    old = article.get_absolute_url()
    article.slug = "better-slug"
    article.save()
    response = client.get(old)
    assert response.status_code == 301
    assert response["Location"] == article.get_absolute_url()
    assert client.get(article.get_absolute_url()).status_code == 200


def test_a_redirect_is_cached_like_a_page(
    client, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """A story shared far and wide, then renamed: every click on the old link
    is a 301, served from the page cache (no query) and marked public for a
    CDN, with a lifetime, so that browsers do not keep it forever."""
    article = make_article(slug="first-slug")
    old = article.get_absolute_url()
    with django_capture_on_commit_callbacks(execute=True):
        article.slug = "better-slug"
        article.save()
    first = client.get(old)
    assert first.status_code == 301
    assert first["X-Cache"] == "miss"
    assert "public" in first["Cache-Control"]
    assert "max-age=60" in first["Cache-Control"]
    with django_assert_num_queries(0):
        again = client.get(old + "?fbclid=abc")
    assert again.status_code == 301
    assert again["Location"] == article.get_absolute_url()
    assert again["X-Cache"] == "hit"
    assert again["Cache-Control"] == first["Cache-Control"]
    # Taken down: the old link leads nowhere any more.
    with django_capture_on_commit_callbacks(execute=True):
        article.status = Article.Status.DRAFT
        article.save()
    assert client.get(old).status_code == 404


def test_a_chain_of_changes_all_lead_to_the_latest(client):
    """Every earlier address answers 301 to the current one."""
    article = make_article(slug="one")
    old_paths = []
    for slug in ["two", "three"]:
        old_paths.append(article.get_absolute_url())
        article = Article.objects.get(pk=article.pk)
        article.slug = slug
        article.save()
    for path in old_paths:
        assert client.get(path)["Location"] == article.get_absolute_url()


def test_changing_back_removes_the_redirect(client):
    """Returning to an old slug serves the story there, not a loop."""
    article = make_article(slug="a")
    article.slug = "b"
    article.save()
    article = Article.objects.get(pk=article.pk)
    article.slug = "a"
    article.save()
    assert client.get(article.get_absolute_url()).status_code == 200


def test_unpublished_story_old_url_is_404(client):
    """A redirect never reveals a story that has been taken down."""
    article = make_article(slug="x")
    old = article.get_absolute_url()
    article.slug = "y"
    article.save()
    article.status = Article.Status.DRAFT
    article.save()
    assert client.get(old).status_code == 404


@pytest.mark.parametrize("script_prefix", ["/", "/news/"])
def test_story_addresses_match_the_url_pattern(script_prefix):
    """article_path() fills in the address without reverse(); it must agree."""
    set_script_prefix(script_prefix)
    try:
        for url_date, slug in [
            (datetime.date(2026, 1, 2), "a-plain-slug"),
            (datetime.date(999, 12, 31), "x"),
        ]:
            assert article_path(url_date, slug) == _reverse_article_path(url_date, slug)
            assert article_path(url_date, slug).startswith(script_prefix)
    finally:
        set_script_prefix("/")
