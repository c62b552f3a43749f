"""The desk's authentication backend (newsroom.auth.ModelBackend): the
signed-in user as Django's own backend loads it, from a compiled query."""

import pytest
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.urls import reverse

from newsroom.auth import ModelBackend
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def fields(user):
    return {f.attname: getattr(user, f.attname) for f in user._meta.concrete_fields}


def test_the_user_is_loaded_as_djangos_backend_loads_it():
    editor = make_staff("editor", "Editor")
    loaded = ModelBackend().get_user(editor.pk)
    assert type(loaded) is type(editor)
    assert fields(loaded) == fields(DjangoModelBackend().get_user(editor.pk))
    assert loaded.has_perm("articles.publish_article")
    assert ModelBackend().get_user(editor.pk + 1000) is None


def test_a_deactivated_editor_is_signed_out_at_the_next_page(client):
    editor = make_staff("editor", "Editor")
    client.force_login(editor)
    desk = reverse("admin:articles_article_changelist")
    assert client.get(desk).status_code == 200
    editor.is_active = False
    editor.save()
    assert ModelBackend().get_user(editor.pk) is None
    answer = client.get(desk)
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("admin:login"))
