"""Each story's tag ids on its own row (the column ``tag_ids``, migration
``articles.0012``), kept by PostgreSQL whatever writes taggit's rows: the
related-stories rail counts a candidate's shared tags from it."""

import threading

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections, transaction
from django.urls import reverse
from taggit.models import Tag, TaggedItem

from articles.models import Article, Section
from tests.articles.admin_helpers import change_form_data
from tests.concurrency import wait_until_another_transaction_waits
from tests.factories import make_article, make_author, make_staff

pytestmark = pytest.mark.django_db


def stored(article):
    """The ids PostgreSQL keeps on the story's row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tag_ids FROM articles_article WHERE id = %s", [article.pk]
        )
        return cursor.fetchone()[0]


def tagged(article):
    """The story's tags as taggit has them."""
    return sorted(article.tags.values_list("pk", flat=True))


def test_the_row_follows_taggits_manager():
    floods, fires, storms = (
        Tag.objects.create(name=n) for n in ("Floods", "Fires", "Storms")
    )
    article = make_article(tags=[storms, floods])
    assert stored(article) == sorted([storms.pk, floods.pk]) == tagged(article)
    assert stored(make_article()) == []

    article.tags.add(fires)
    assert stored(article) == sorted([floods.pk, fires.pk, storms.pk])
    article.tags.remove(floods)
    assert stored(article) == sorted([fires.pk, storms.pk])
    article.tags.set([floods])
    assert stored(article) == [floods.pk]
    article.tags.clear()
    assert stored(article) == []


def test_the_row_follows_writes_that_send_no_signals():
    floods, fires = Tag.objects.create(name="Floods"), Tag.objects.create(name="Fires")
    first, second = make_article(tags=[floods]), make_article(tags=[floods])
    kind = ContentType.objects.get_for_model(Article)

    TaggedItem.objects.bulk_create(
        [
            TaggedItem(tag=fires, content_type=kind, object_id=first.pk),
            TaggedItem(tag=fires, content_type=kind, object_id=second.pk),
        ]
    )
    assert stored(first) == stored(second) == sorted([floods.pk, fires.pk])
    TaggedItem.objects.filter(object_id=first.pk, tag=fires).update(
        object_id=second.pk, tag=Tag.objects.create(name="Storms")
    )
    assert stored(first) == [floods.pk]  # moved off the first story
    assert stored(second) == tagged(second)
    assert len(stored(second)) == 3
    floods.delete()  # the admin's delete: taggit's rows go with the tag
    assert stored(first) == []
    assert stored(second) == tagged(second)
    assert floods.pk not in stored(second)


def test_another_models_tags_leave_the_stories_alone():
    """taggit's table holds any model's tags: a section's tag with the same
    number as a story is not the story's."""
    floods = Tag.objects.create(name="Floods")
    article = make_article(tags=[floods])
    TaggedItem.objects.create(
        tag=Tag.objects.create(name="Fires"),
        content_type=ContentType.objects.get_for_model(Section),
        object_id=article.pk,
    )
    assert stored(article) == [floods.pk]
    TaggedItem.objects.filter(content_type__model="section").delete()
    assert stored(article) == [floods.pk]


def test_the_desks_tag_field_and_a_later_save_keep_the_row(client):
    """The admin saves the story, then its tags: a save of the story after
    that (Django writes every field it knows) must not undo them."""
    client.force_login(make_staff("editor", "Editor"))
    floods = Tag.objects.create(name="Floods")
    article = make_article(authors=[make_author()])
    url = reverse("admin:articles_article_change", args=[article.pk])

    data = change_form_data(article, existing_tags=[floods.pk], new_tags="Rain")
    assert client.post(url, data).status_code == 302
    assert stored(article) == tagged(article)
    assert len(stored(article)) == 2

    article = Article.objects.get(pk=article.pk)
    article.headline = "Saved again"
    article.save()
    assert len(stored(article)) == 2 and stored(article) == tagged(article)


@pytest.mark.django_db(transaction=True)
def test_tags_added_at_once_by_two_editors_are_both_kept():
    """The second transaction counts the tags once the first commits."""
    floods, fires = Tag.objects.create(name="Floods"), Tag.objects.create(name="Fires")
    article = make_article()
    errors = []

    def add_fires():
        try:
            with transaction.atomic():
                Article.objects.get(pk=article.pk).tags.add(fires)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    with transaction.atomic():
        article.tags.add(floods)
        other = threading.Thread(target=add_fires)
        other.start()
        # Commit only once the other transaction waits on this one.
        wait_until_another_transaction_waits(errors)
    other.join(timeout=10)
    assert not errors
    assert stored(article) == sorted([floods.pk, fires.pk]) == tagged(article)
