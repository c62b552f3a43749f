from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from taggit.models import Tag

from articles.models import Article
from tests.articles.admin_helpers import (
    article_form_data,
    change_form_data,
    split_datetime,
)
from tests.factories import make_article, make_author, make_section, make_staff

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:articles_article_add")
LIST_URL = reverse("admin:articles_article_changelist")


@pytest.fixture
def reporter_client(client):
    client.force_login(make_staff("reporter", "Reporter"))
    return client


@pytest.fixture
def editor_client(client):
    client.force_login(make_staff("editor", "Editor"))
    return client


def change_url(article):
    return reverse("admin:articles_article_change", args=[article.pk])


def test_reporter_files_a_draft_and_submits_it_for_review(reporter_client):
    """A reporter can write a story and send it to the editors."""
    data = article_form_data(section=make_section(), authors=[make_author()])
    response = reporter_client.post(ADD_URL, data)
    assert response.status_code == 302
    article = Article.objects.get(slug="a-story-from-the-desk")
    assert article.status == Article.Status.DRAFT
    data = change_form_data(article, status="in_review")
    assert reporter_client.post(change_url(article), data).status_code == 302
    article.refresh_from_db()
    assert article.status == Article.Status.IN_REVIEW
    assert article.created_by.username == "reporter"


def test_reporter_cannot_publish_through_the_add_form(reporter_client):
    """A forged status=published from a reporter is refused and nothing is stored."""
    data = article_form_data(
        section=make_section(), authors=[make_author()], status="published"
    )
    response = reporter_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Article.objects.exists()


def test_reporter_cannot_publish_their_draft_through_the_change_form(reporter_client):
    """Changing a draft's status to published is refused."""
    article = make_article(status=Article.Status.DRAFT, authors=[make_author()])
    data = change_form_data(article, status="published")
    response = reporter_client.post(change_url(article), data)
    assert response.status_code == 200
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT
    assert not Article.objects.published().exists()


def test_reporter_cannot_schedule_by_setting_publish_at(reporter_client):
    """publish_at is not the reporter's to set; a posted value is ignored."""
    article = make_article(status=Article.Status.IN_REVIEW, authors=[make_author()])
    soon = timezone.now() + timedelta(hours=2)
    data = change_form_data(article, **split_datetime(soon))
    reporter_client.post(change_url(article), data)
    article.refresh_from_db()
    assert article.publish_at is None


def test_reporter_cannot_edit_or_unpublish_a_published_story(reporter_client):
    """A published story is read-only for a reporter; a POST gets 403."""
    article = make_article(authors=[make_author()], headline="Original")
    page = reporter_client.get(change_url(article))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    for status in ["published", "draft"]:
        data = change_form_data(article, headline="Defaced", status=status)
        assert reporter_client.post(change_url(article), data).status_code == 403
    article.refresh_from_db()
    assert article.headline == "Original"
    assert article.is_live


def test_reporter_cannot_publish_through_a_bulk_action(reporter_client):
    """The publish actions are neither offered to nor run for a reporter."""
    article = make_article(status=Article.Status.IN_REVIEW)
    page = reporter_client.get(LIST_URL)
    assert b"publish_selected" not in page.content
    for action in ["publish_selected", "feature_selected"]:
        reporter_client.post(
            LIST_URL, {"action": action, "_selected_action": [article.pk]}
        )
    article.refresh_from_db()
    assert article.status == Article.Status.IN_REVIEW
    assert not article.is_featured


def test_reporter_cannot_unpublish_through_a_bulk_action(reporter_client):
    """Unpublishing by bulk action is refused as well."""
    article = make_article()
    reporter_client.post(
        LIST_URL, {"action": "unpublish_selected", "_selected_action": [article.pk]}
    )
    article.refresh_from_db()
    assert article.is_live


def test_editor_publishes_from_the_change_form(editor_client):
    """An editor's publish goes live at once and sets the first publication."""
    article = make_article(status=Article.Status.IN_REVIEW, authors=[make_author()])
    data = change_form_data(article, status="published")
    assert editor_client.post(change_url(article), data).status_code == 302
    article.refresh_from_db()
    assert article.is_live
    assert article.first_published_at is not None


def test_editor_schedules_and_the_desk_shows_it(editor_client):
    """A future publish_at shows as "Scheduled for …" and stays off the site."""
    article = make_article(status=Article.Status.IN_REVIEW, authors=[make_author()])
    later = timezone.now() + timedelta(days=1)
    data = change_form_data(article, status="published", **split_datetime(later))
    editor_client.post(change_url(article), data)
    article.refresh_from_db()
    assert article.is_scheduled
    assert b"Scheduled for" in editor_client.get(LIST_URL).content
    assert not Article.objects.published().filter(pk=article.pk).exists()


def test_editor_bulk_actions_publish_unpublish_and_feature(editor_client):
    """The desk's bulk actions do what they say."""
    draft = make_article(status=Article.Status.DRAFT)
    live = make_article()
    editor_client.post(
        LIST_URL, {"action": "publish_selected", "_selected_action": [draft.pk]}
    )
    editor_client.post(
        LIST_URL, {"action": "unpublish_selected", "_selected_action": [live.pk]}
    )
    editor_client.post(
        LIST_URL, {"action": "feature_selected", "_selected_action": [draft.pk]}
    )
    draft.refresh_from_db()
    live.refresh_from_db()
    assert draft.is_live and draft.is_featured
    assert live.status == Article.Status.DRAFT


def test_publishing_a_clashing_slug_gets_a_form_error(editor_client):
    """Two stories cannot share a slug on one date: a clear error, not a 500."""
    # One instant for both: "five minutes ago" is yesterday just after midnight.
    when = timezone.now().replace(microsecond=0)
    make_article(slug="same-slug", publish_at=when)
    article = make_article(
        status=Article.Status.DRAFT, slug="same-slug", authors=[make_author()]
    )
    data = change_form_data(article, status="published", **split_datetime(when))
    response = editor_client.post(change_url(article), data)
    assert response.status_code == 200
    assert "already uses this slug" in str(response.context["adminform"].form.errors)


def test_desk_filters_stories_by_author(editor_client):
    """?author= shows one writer's stories; desk writers are listed as filters."""
    writer = make_author(name="Desk Writer", user=make_staff("writer", "Reporter"))
    contributor = make_author(name="Guest Contributor")
    make_article(headline="By the desk writer", authors=[writer])
    make_article(headline="By the guest", authors=[contributor])
    page = editor_client.get(LIST_URL).content.decode()
    assert "Desk Writer" in page and f"?author={writer.pk}" in page
    mine = editor_client.get(LIST_URL, {"author": writer.pk}).content.decode()
    assert "By the desk writer" in mine and "By the guest" not in mine
    theirs = editor_client.get(LIST_URL, {"author": contributor.pk}).content.decode()
    assert "By the guest" in theirs and "By the desk writer" not in theirs


@pytest.mark.parametrize("junk", ["²", "1x", "-1"])
def test_desk_author_filter_ignores_junk(editor_client, junk):
    """A digit int() refuses (such as "²") is ignored, not a server error."""
    make_article(headline="Still listed")
    response = editor_client.get(LIST_URL, {"author": junk})
    assert response.status_code == 200
    assert "Still listed" in response.content.decode()


def test_desk_author_filter_with_an_unknown_id_lists_nothing(editor_client):
    """An id no author has (one too large for the column included) is an
    empty list, not a server error."""
    writer = make_author(name="Desk Writer", user=make_staff("writer", "Reporter"))
    make_article(headline="By the desk writer", authors=[writer])
    for unknown in ["999999", "99999999999999999999"]:
        response = editor_client.get(LIST_URL, {"author": unknown})
        assert response.status_code == 200
        assert "By the desk writer" not in response.content.decode()


def test_a_long_tag_whose_address_is_taken_is_refused_not_a_server_error(
    reporter_client,
):
    """Two tag names can share an address ("Rivers & lakes" and "Rivers,
    lakes" are both /tag/rivers-lakes/): taggit then gives the new tag the
    address with "_1" added, which for a tag near the length limit did not
    fit its column, and the save was a server error. The form refuses an
    address too long to take a suffix, and nothing is saved."""
    Tag.objects.create(name="A" * 100, slug="a" * 100)
    data = article_form_data(
        section=make_section(), authors=[make_author()], new_tags="a" * 100
    )

    response = reporter_client.post(ADD_URL, data)

    assert response.status_code == 200
    assert "is too long for a tag" in response.content.decode()
    assert not Article.objects.exists()
    assert not Tag.objects.filter(name="a" * 100).exists()


def test_a_tag_sharing_an_address_gets_its_own_page(reporter_client):
    """A shorter name sharing another tag's address gets one of its own."""
    Tag.objects.create(name="Rivers & lakes", slug="rivers-lakes")
    data = article_form_data(
        section=make_section(), authors=[make_author()], new_tags='"Rivers, lakes"'
    )

    response = reporter_client.post(ADD_URL, data)

    assert response.status_code == 302
    tag = Article.objects.get().tags.get()
    assert (tag.name, tag.slug) == ("Rivers, lakes", "rivers-lakes_1")


@pytest.mark.parametrize(
    ("new_tags", "message"),
    [
        ("Budget, !!!", "“!!!” cannot be a tag: it needs a letter or a digit."),
        ("x" * 101, "A tag can be at most 100 characters long (this one has 101)."),
    ],
)
def test_a_tag_that_cannot_have_a_page_is_refused_with_a_clear_error(
    reporter_client, new_tags, message
):
    """A tag becomes a page at /tag/<its slug>/: one made of punctuation has
    no slug, and taggit's names have a length limit. The form says so and
    nothing is saved (before, the first broke the story page and the second
    the save)."""
    data = article_form_data(
        section=make_section(), authors=[make_author()], new_tags=new_tags
    )

    response = reporter_client.post(ADD_URL, data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Article.objects.exists()
