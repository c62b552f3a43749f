import pytest
from django.urls import reverse
from reversion.models import Version

from articles.models import Article
from tests.articles.admin_helpers import change_form_data
from tests.factories import make_article, make_author, make_staff

pytestmark = pytest.mark.django_db


def test_each_admin_save_records_a_revision_that_can_be_recovered(client):
    """History keeps every save; reverting restores the earlier text."""
    client.force_login(make_staff("editor", "Editor"))
    article = make_article(headline="First words", authors=[make_author()])
    url = reverse("admin:articles_article_change", args=[article.pk])
    client.post(url, change_form_data(article, headline="Second words"))
    client.post(url, change_form_data(article, headline="Third words"))
    versions = Version.objects.get_for_object(article)
    assert versions.count() == 2
    history = client.get(reverse("admin:articles_article_history", args=[article.pk]))
    assert history.status_code == 200
    oldest = versions.last()
    assert oldest.field_dict["headline"] == "Second words"
    revision_url = reverse(
        "admin:articles_article_revision", args=[article.pk, oldest.pk]
    )
    assert client.get(revision_url).status_code == 200
    oldest.revision.revert()
    assert Article.objects.get(pk=article.pk).headline == "Second words"


def test_a_story_published_from_the_desk_list_has_the_revision_in_its_history(
    client,
):
    """The desk's bulk actions save within a revision, as the story form
    does; showing the list opens no transaction."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from articles.caching import content_version

    client.force_login(make_staff("editor", "Editor"))
    draft = make_article(status=Article.Status.DRAFT, authors=[make_author()])
    desk = reverse("admin:articles_article_changelist")
    content_version()  # the version's first row is written in a savepoint
    with CaptureQueriesContext(connection) as shown:
        assert client.get(desk).status_code == 200
    statements = [query["sql"] for query in shown.captured_queries]
    # A transaction, or within the test's own, a savepoint.
    assert not [sql for sql in statements if sql.startswith(("BEGIN", "SAVEPOINT"))]

    client.post(desk, {"action": "publish_selected", "_selected_action": [draft.pk]})

    (version,) = Version.objects.get_for_object(draft)
    assert version.field_dict["status"] == Article.Status.PUBLISHED
