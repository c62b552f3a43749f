"""newsroom.models.DirectLoadModel: instances loaded without Model.__init__
behave exactly as Django's own."""

import pytest
from django.db import models
from django.db.models.signals import post_init
from django.test.utils import isolate_apps

from articles import reader
from articles.models import Article, Byline, Section
from newsroom.models import DirectLoadModel
from tests.factories import make_article, make_author, make_section

pytestmark = pytest.mark.django_db


def _fields(instance):
    return {k: v for k, v in vars(instance).items() if k != "_state"}


def test_a_loaded_story_is_what_djangos_from_db_makes():
    article = make_article(headline="Bridge reopens", body="<p>Traffic flows.</p>")
    row = Article.objects.filter(pk=article.pk).values_list(
        *[f.attname for f in Article._meta.concrete_fields]
    )[0]
    names = [f.attname for f in Article._meta.concrete_fields]

    direct = Article.from_db("default", names, row)
    djangos = models.Model.from_db.__func__(Article, "default", names, row)

    assert type(direct) is Article
    # Article.from_db adds the stored address (for redirects) on top.
    assert direct._stored_address == (article.url_date, article.slug)
    del direct._stored_address
    assert _fields(direct) == _fields(djangos)
    assert direct._state.adding is False and direct._state.db == "default"
    assert direct == article


def test_fields_left_out_are_deferred_and_load_on_use(django_assert_num_queries):
    article = make_article(headline="Deferred", body="<p>Loaded later.</p>")

    with django_assert_num_queries(1):
        loaded = Article.objects.only("headline").get(pk=article.pk)
    assert "body" in loaded.get_deferred_fields()
    assert "headline" not in loaded.get_deferred_fields()
    with django_assert_num_queries(1):
        assert loaded.body == "<p>Loaded later.</p>"


def test_a_loaded_story_saves_as_an_update_and_follows_its_foreign_keys():
    news = make_section(name="News")
    article = make_article(section=news)
    loaded = Article.objects.get(pk=article.pk)

    assert loaded.section == news
    loaded.headline = "Changed"
    loaded.save()

    assert Article.objects.count() == 1
    assert Article.objects.get(pk=article.pk).headline == "Changed"


def test_a_changed_address_still_leaves_a_redirect():
    # Article.from_db remembers the stored address on top of the direct load.
    article = make_article(slug="old-slug")
    old_path = article.get_absolute_url()
    loaded = Article.objects.get(pk=article.pk)
    loaded.slug = "new-slug"
    loaded.save()

    assert loaded.redirects.filter(old_path=old_path).exists()


def test_a_post_init_receiver_still_sees_every_loaded_instance():
    section = make_section()
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Section)
    try:
        loaded = Section.objects.get(pk=section.pk)
    finally:
        post_init.disconnect(receiver, sender=Section)

    assert seen == [loaded]
    assert loaded.name == section.name


def test_receivers_see_the_stories_and_bylines_the_reader_pages_load():
    """The reader's loaders ask the signals once a list, not once a row:
    a receiver connected before a page loads sees every instance of it."""
    article = make_article(authors=[make_author(), make_author()])
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Article)
    post_init.connect(receiver, sender=Byline)
    try:
        story = reader.story(article.url_date, article.slug)
    finally:
        post_init.disconnect(receiver, sender=Article)
        post_init.disconnect(receiver, sender=Byline)

    assert seen[0] == story
    assert seen[1:] == story.ordered_bylines and len(seen) == 3
    assert story.headline == article.headline


@isolate_apps("newsroom")
def test_a_model_with_its_own_init_or_descriptors_is_loaded_by_django():
    class Greeting(DirectLoadModel):
        text = models.CharField(max_length=20)

        class Meta:
            app_label = "newsroom"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.greeted = True

    class Shouting(DirectLoadModel):
        text = models.CharField(max_length=20)

        class Meta:
            app_label = "newsroom"

    class Upper:
        def __get__(self, instance, owner):
            return instance.__dict__["text"] if instance else self

        def __set__(self, instance, value):
            instance.__dict__["text"] = value.upper()

    Shouting.text = Upper()

    assert Greeting.from_db("default", ["id", "text"], [1, "hello"]).greeted
    assert Shouting.from_db("default", ["id", "text"], [1, "hello"]).text == "HELLO"
