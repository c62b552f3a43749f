"""Small factories for test data: plain functions with sensible defaults."""

import importlib
import io
import itertools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from PIL import Image

from articles.images import create_photo
from articles.models import Article, Author, Byline, Section

_seq = itertools.count(1)
PASSWORD = "a-long-test-password-42"


def make_section(**fields):
    n = next(_seq)
    fields.setdefault("name", f"Section {n}")
    fields.setdefault("slug", f"section-{n}")
    return Section.objects.create(**fields)


def make_author(**fields):
    n = next(_seq)
    fields.setdefault("name", f"Author {n}")
    fields.setdefault("slug", f"author-{n}")
    return Author.objects.create(**fields)


def make_article(*, authors=(), tags=(), **fields):
    """A story; published an hour ago unless told otherwise."""
    n = next(_seq)
    fields.setdefault("headline", f"Story number {n}")
    fields.setdefault("slug", f"story-{n}")
    fields.setdefault("body", f"<p>Body of story {n}.</p>")
    if "section" not in fields:
        fields["section"] = make_section()
    fields.setdefault("status", Article.Status.PUBLISHED)
    if fields["status"] == Article.Status.PUBLISHED:
        fields.setdefault("publish_at", timezone.now() - timedelta(hours=1))
    article = Article.objects.create(**fields)
    for position, author in enumerate(authors):
        Byline.objects.create(article=article, author=author, position=position)
    if tags:
        article.tags.add(*tags)
    return article


def ensure_groups():
    """The Reporter and Editor groups, as the data migrations make them.

    Data-migration rows do not survive the flush that ends a transactional
    test, so tests that come after one rebuild them from the migrations' own
    functions (no second copy of who may do what).
    """
    if Group.objects.filter(name__in=["Reporter", "Editor"]).count() == 2:
        return
    # The migrations' historical app registry, as during `migrate` (the
    # functions must not be handed the live registry: they alter it).
    state_apps = MigrationLoader(connection).project_state().apps
    for module, function in [
        ("articles.migrations.0002_newsroom_groups", "create_groups"),
        ("newsletter.migrations.0002_editor_permissions", "grant_editors"),
    ]:
        getattr(importlib.import_module(module), function)(state_apps, None)


def make_staff(username, group):
    """A staff user in the Reporter or Editor group."""
    ensure_groups()
    user = get_user_model().objects.create_user(
        username, f"{username}@example.com", PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name=group))
    return user


def make_photo(*, size=(400, 300), color="#3a7", **fields):
    """A real (small) photo, stored and with renditions, through the service."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    fields.setdefault("alt_text", "A green rectangle")
    return create_photo(
        image_file=ContentFile(buffer.getvalue(), name="t.jpg"), **fields
    )
