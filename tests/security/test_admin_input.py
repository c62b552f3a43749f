"""Odd input to the desk: the admin may refuse it or find nothing, never 5xx."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from tests.articles.admin_helpers import article_form_data
from tests.factories import make_article, make_author, make_section, make_staff

pytestmark = pytest.mark.django_db

AUTOCOMPLETE_FIELDS = [
    ("articles", "article", "related"),
    ("articles", "article", "section"),
    ("articles", "article", "lead_photo"),
    ("articles", "article", "tags"),
    ("articles", "byline", "author"),
]


@pytest.fixture
def editor(client):
    client.force_login(make_staff("editor", "Editor"))
    return client


@pytest.mark.parametrize(("app", "model", "field"), AUTOCOMPLETE_FIELDS)
@pytest.mark.parametrize("term", ["\x00", "bud\x00get"])
def test_autocomplete_with_a_nul_character_is_refused(editor, app, model, field, term):
    """PostgreSQL refuses NUL in text: the lookup was a 500."""
    make_article(headline="Budget vote", tags=["budget"])
    response = editor.get(
        reverse("admin:autocomplete"),
        {"app_label": app, "model_name": model, "field_name": field, "term": term},
    )

    assert response.status_code == 400
    assert b"NUL" in response.content


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:newsletter_subscriber_changelist") + "?status__exact=%00",
        reverse("admin:newsletter_digest_changelist") + "?status__exact=a%00",
        reverse("admin:articles_article_changelist") + "?q=%00",
        reverse("admin:articles_article_changelist") + "?%00=1",
    ],
)
def test_admin_pages_refuse_a_nul_character_in_the_query_string(editor, url):
    assert editor.get(url).status_code == 400


@pytest.mark.parametrize("page", ["history", "change", "delete"])
def test_admin_pages_refuse_a_nul_character_in_the_address(editor, page):
    """A story's history looked the key up as text in reversion's table,
    which PostgreSQL refuses with a NUL in it: a 500."""
    url = reverse("admin:articles_article_changelist") + f"%00/{page}/"
    assert editor.get(url).status_code == 400


@pytest.mark.parametrize("year", ["99999999999999999999", "10000", "0"])
def test_a_date_drill_down_to_a_year_no_date_has_is_refused(editor, year):
    """A year beyond what a date can hold raised OverflowError, which Django
    does not catch there (it catches ValueError): a 500. Django answers a
    bad drill-down by sending the editor back with ?e=1."""
    make_article(headline="Budget vote")
    url = reverse("admin:articles_article_changelist")
    response = editor.get(url, {"publish_at__year": year})
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_admin_pages_answer_without_one(editor):
    make_article(headline="Budget vote")
    response = editor.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "articles",
            "model_name": "article",
            "field_name": "related",
            "term": "budget",
        },
    )

    assert [r["text"] for r in response.json()["results"]] == ["Budget vote"]
    url = reverse("admin:newsletter_subscriber_changelist") + "?status__exact=pending"
    assert editor.get(url).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {"section__id__exact": "99999999999999999999"},
        {"section__id__exact": "-99999999999999999999", "q": "budget"},
    ],
)
def test_desk_filters_with_ids_out_of_range_list_nothing(editor, query):
    """An id no integer column can hold matches no story (it broke the
    desk's page count: a 500)."""
    make_article(headline="Budget vote")
    make_article(headline="Ferry news")  # a second section: the filter shows

    response = editor.get(reverse("admin:articles_article_changelist"), query)

    assert response.status_code == 200
    assert "Budget vote" not in response.content.decode()


@pytest.mark.parametrize("selected", ["abc", "\x00", "1.5"])
@pytest.mark.parametrize(
    "changelist",
    ["admin:articles_article_changelist", "admin:newsletter_subscriber_changelist"],
)
def test_an_action_on_rows_that_are_not_rows_is_refused(editor, changelist, selected):
    """Django filters the action's queryset on the posted keys as they are:
    anything but a key was a 500."""
    response = editor.post(
        reverse(changelist),
        {"action": "delete_selected", "_selected_action": [selected]},
    )

    assert response.status_code == 400


def test_an_action_on_real_rows_still_runs(editor):
    story = make_article(headline="Budget vote")
    response = editor.post(
        reverse("admin:articles_article_changelist"),
        {"action": "feature_selected", "_selected_action": [str(story.pk)]},
    )

    assert response.status_code == 302
    story.refresh_from_db()
    assert story.is_featured


@pytest.mark.parametrize(
    "query",
    [
        "?section=abc",
        "?lead_photo=abc",
        "?related=1,abc",
        "?existing_tags=abc",
        "?publish_at=zzz",
    ],
)
def test_an_add_form_refuses_prefill_values_its_fields_refuse(editor, query):
    """The admin fills an add form in from the query string, handing the
    values to the widgets as they are: these were 500s."""
    url = reverse("admin:articles_article_add") + query

    assert editor.get(url).status_code == 400


def test_an_add_form_is_still_filled_in_from_the_query_string(editor):
    section = make_section(name="Harbour")
    url = reverse("admin:articles_article_add")

    response = editor.get(url, {"headline": "Ferry strike", "section": section.pk})

    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="Ferry strike"' in page
    assert f'<option value="{section.pk}" selected>Harbour</option>' in page
    assert editor.get(url, {"section": ""}).status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_before_any_check(client):
    """The checks run after Django's own (login, permission): nobody who is
    not let in makes the admin look anything up."""
    for url in [
        reverse("admin:articles_article_add") + "?section=abc",
        reverse("admin:articles_article_changelist") + "?q=%00",
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def _junk_choice_forms():
    """Forms whose autocomplete fields are posted values that are not keys."""
    section = make_section(name="Harbour")
    author = make_author(name="Ada Reporter")
    story = make_article(headline="Budget vote")
    add_story = reverse("admin:articles_article_add")
    story_data = article_form_data(section=section, authors=[author])
    digest_data = {
        "subject": "Today",
        "intro": "",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-0-position": "1",
        "items-0-article": str(story.pk),
    }
    add_author = reverse("admin:articles_author_add")
    author_data = {"name": "Bo", "slug": "bo", "job_title": "", "bio": "", "email": ""}
    change_author = reverse("admin:articles_author_change", args=[author.pk])
    return {
        "story section": (add_story, story_data, "section"),
        "story photo": (add_story, story_data, "lead_photo"),
        "story related": (add_story, story_data, "related"),
        "story tags": (add_story, story_data, "existing_tags"),
        "byline author": (add_story, story_data, "bylines-0-author"),
        "digest story": (
            reverse("admin:newsletter_digest_add"),
            digest_data,
            "items-0-article",
        ),
        "author photo": (add_author, author_data, "photo"),
        "author user": (change_author, author_data, "user"),
    }


@pytest.mark.parametrize(
    "form",
    [
        "story section",
        "story photo",
        "story related",
        "story tags",
        "byline author",
        "digest story",
        "author photo",
        "author user",
    ],
)
@pytest.mark.parametrize("value", ["abc", "\x00", "9" * 30])
def test_a_form_posted_with_a_choice_that_is_not_a_key_shows_the_error(
    admin_client, form, value
):
    """An invalid form is shown again with its errors, and Django's
    autocomplete widgets looked the posted values up as they were to show
    them: anything but a key was a 500, and the editor's work was lost."""
    url, data, field = _junk_choice_forms()[form]

    response = admin_client.post(url, {**data, field: value})

    assert response.status_code == 200
    form = response.context["adminform"].form
    formsets = response.context["inline_admin_formsets"]
    errors = [form.errors, *(f.formset.errors for f in formsets)]
    assert field.rpartition("-")[2] in str(errors)
    kept = {"headline": "A story from the desk", "subject": "Today", "name": "Bo"}
    assert any(form[name].value() == kept[name] for name in kept if name in form.fields)


@pytest.mark.parametrize(
    "changelist",
    [
        "admin:newsletter_digest_changelist",
        "admin:newsletter_subscriber_changelist",
        "admin:axes_accessattempt_changelist",
        "admin:axes_accesslog_changelist",
        "admin:axes_accessfailurelog_changelist",
    ],
)
def test_every_date_drill_down_refuses_a_year_no_date_has(admin_client, changelist):
    """The desk's story list was fixed first; every other list with a date
    drill-down answered 500 too."""
    url = reverse(changelist)
    model_admin = admin_client.get(url).context["cl"].model_admin
    parameter = f"{model_admin.date_hierarchy}__year"

    response = admin_client.get(url, {parameter: "99999999999999999999"})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_the_lockout_list_cleans_up_expired_attempts(admin_client):
    """django-axes' own action read an attribute only its login handler
    sets: every use of "Clean up expired attempts" was a 500."""
    expired = AccessAttempt.objects.create(
        username="mallory", ip_address="192.0.2.1", failures_since_start=3
    )
    AccessAttempt.objects.filter(pk=expired.pk).update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(minutes=1)
    )
    recent = AccessAttempt.objects.create(
        username="eve", ip_address="192.0.2.2", failures_since_start=1
    )

    response = admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "cleanup_expired_attempts", "_selected_action": [str(recent.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Cleaned up 1 expired access attempts." in response.content.decode()
    assert list(AccessAttempt.objects.all()) == [recent]
