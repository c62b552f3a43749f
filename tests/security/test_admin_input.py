"""Odd input to the desk: the admin may refuse it or find nothing, never 5xx."""

import pytest
from django.urls import reverse

from tests.factories import make_article, make_section, make_staff

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
