import pytest
from django.urls import reverse

from articles.models import Author, Photo, Section
from tests.factories import (
    make_article,
    make_author,
    make_photo,
    make_section,
    make_staff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor_client(client):
    client.force_login(make_staff("editor", "Editor"))
    return client


def test_author_with_bylines_cannot_be_deleted(editor_client):
    """The admin explains the author is still on a story, and keeps them."""
    author = make_author(name="Kept Author")
    make_article(authors=[author])
    url = reverse("admin:articles_author_delete", args=[author.pk])
    page = editor_client.get(url)
    assert b"protected" in page.content
    editor_client.post(url, {"post": "yes"})
    assert Author.objects.filter(pk=author.pk).exists()


def test_section_with_stories_cannot_be_deleted(editor_client):
    """A section holding stories stays, with a clear message."""
    section = make_section()
    make_article(section=section)
    url = reverse("admin:articles_section_delete", args=[section.pk])
    assert b"protected" in editor_client.get(url).content
    editor_client.post(url, {"post": "yes"})
    assert Section.objects.filter(pk=section.pk).exists()


def test_photo_in_use_cannot_be_deleted(editor_client, settings, tmp_path):
    """A lead photo cannot vanish from under a story."""
    settings.MEDIA_ROOT = tmp_path
    photo = make_photo()
    make_article(lead_photo=photo)
    url = reverse("admin:articles_photo_delete", args=[photo.pk])
    assert b"protected" in editor_client.get(url).content
    editor_client.post(url, {"post": "yes"})
    assert Photo.objects.filter(pk=photo.pk).exists()
