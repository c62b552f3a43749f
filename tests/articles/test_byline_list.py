"""A story's bylines as lists show them (``BylineList``), kept by PostgreSQL
whatever writes the bylines and the writers."""

import json
import threading

import pytest
from django.db import connections, transaction
from django.db.models import OuterRef
from django.urls import reverse
from reversion.models import Version

from articles.loading import JSONBuildObject, json_array, json_columns
from articles.models import Article, Author, Byline, BylineList
from tests.articles.admin_helpers import change_form_data
from tests.concurrency import wait_until_another_transaction_waits
from tests.factories import make_article, make_author, make_staff

pytestmark = pytest.mark.django_db


def reference(article):
    """The bylines built with the ORM from Byline and Author rows."""
    bylines = json_array(
        Byline.objects.filter(article_id=OuterRef("pk")),
        "article_id",
        JSONBuildObject(
            **json_columns(Byline),
            author=JSONBuildObject(
                **json_columns(
                    Author, "author__", only=frozenset({"id", "name", "slug"})
                )
            ),
        ),
        order_by=("position", "pk"),
    )
    raw = Article.objects.filter(pk=article.pk).values_list(bylines, flat=True).get()
    return json.loads(raw) if raw is not None else None


def kept(article):
    raw = (
        BylineList.objects.filter(article=article)
        .values_list("json", flat=True)
        .first()
    )
    return json.loads(raw) if raw is not None else None


def names(article):
    return [byline["author"]["name"] for byline in kept(article) or []]


def test_the_list_is_the_bylines_in_order_as_the_orm_builds_them():
    first, second, third = (make_author(name=n) for n in ("Ann", "Bo", "Cy"))
    article = make_article()
    Byline.objects.create(
        article=article, author=third, position=2, role="photographer"
    )
    Byline.objects.create(article=article, author=first, position=0)
    Byline.objects.create(
        article=article, author=second, position=1, role="contributor"
    )
    assert kept(article) == reference(article)
    assert names(article) == ["Ann", "Bo", "Cy"]
    assert kept(make_article()) is None  # no bylines, no list


def test_the_list_follows_writes_that_send_no_signals():
    ann, bo, cy = (make_author(name=n) for n in ("Ann", "Bo", "Cy"))
    article = make_article(authors=[ann, bo])
    other = make_article(authors=[bo])

    Byline.objects.filter(article=article, author=ann).update(position=5)
    assert names(article) == ["Bo", "Ann"]
    Author.objects.filter(pk=bo.pk).update(name="Bo Renamed", slug="bo-renamed")
    assert names(article) == ["Bo Renamed", "Ann"]
    assert kept(other) == reference(other)
    assert kept(other)[0]["author"]["slug"] == "bo-renamed"
    Byline.objects.bulk_create(
        [
            Byline(article=article, author=cy, position=9),
            Byline(article=other, author=cy),
        ]
    )
    assert names(article) == ["Bo Renamed", "Ann", "Cy"]
    assert names(other) == ["Bo Renamed", "Cy"]
    Byline.objects.filter(author=bo).delete()
    assert names(article) == ["Ann", "Cy"]
    assert names(other) == ["Cy"]
    assert kept(article) == reference(article)
    Byline.objects.filter(article=other).delete()
    assert kept(other) is None


def test_a_deleted_story_takes_its_list_with_it(client):
    client.force_login(make_staff("editor", "Editor"))
    article = make_article(authors=[make_author()])
    url = reverse("admin:articles_article_delete", args=[article.pk])
    confirm = client.get(url).content.decode()
    assert "Byline: " in confirm  # what the editor deletes with the story
    assert "byline list" not in confirm.lower()  # and nothing of ours
    client.post(url, {"post": "yes"})
    assert not Article.objects.filter(pk=article.pk).exists()
    assert not BylineList.objects.exists()
    make_article(authors=[make_author()]).delete()
    assert not BylineList.objects.exists()


def test_a_renamed_writer_is_renamed_on_the_front_page(
    client, django_capture_on_commit_callbacks
):
    author = make_author(name="Dana Old")
    make_article(headline="Council votes", authors=[author], is_featured=True)
    make_article(headline="Bridge reopens", authors=[author])
    assert client.get("/").content.decode().count("Dana Old") == 2
    with django_capture_on_commit_callbacks(execute=True):  # the page cache's bump
        author.name = "Dana New"
        author.save()
    page = client.get("/").content.decode()
    assert "Dana Old" not in page
    assert page.count("Dana New") == 2


def test_reverting_a_revision_restores_its_bylines(client):
    client.force_login(make_staff("editor", "Editor"))
    ann, bo = make_author(name="Ann"), make_author(name="Bo")
    article = make_article(authors=[ann])
    url = reverse("admin:articles_article_change", args=[article.pk])
    client.post(url, change_form_data(article, headline="With Ann"))
    Byline.objects.filter(article=article).update(author=bo)
    client.post(url, change_form_data(article, headline="With Bo"))
    assert names(article) == ["Bo"]
    Version.objects.get_for_object(article).get(
        serialized_data__contains="With Ann"
    ).revision.revert(delete=True)
    assert names(article) == ["Ann"]
    assert kept(article) == reference(article)


@pytest.mark.django_db(transaction=True)
def test_bylines_added_at_once_by_two_editors_are_both_kept():
    """The second transaction builds the list after the first commits."""
    ann, bo = make_author(name="Ann"), make_author(name="Bo")
    article = make_article()
    errors = []

    def add_bo():
        try:
            with transaction.atomic():
                Byline.objects.create(article=article, author=bo, position=1)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    with transaction.atomic():
        Byline.objects.create(article=article, author=ann, position=0)
        other = threading.Thread(target=add_bo)
        other.start()
        # Commit only once the other transaction waits on this one.
        wait_until_another_transaction_waits(errors)
    other.join(timeout=10)
    assert not errors
    assert names(article) == ["Ann", "Bo"]
