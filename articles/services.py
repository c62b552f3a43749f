"""Writes to stories that carry editorial rules: publishing and corrections.

The admin, management commands and tests call these; they check the
publishing permission themselves, so no caller can forget it.
"""

from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from articles.caching import content_changed
from articles.models import Article, Correction

PUBLISH_PERMISSION = "articles.publish_article"
PREVIEW_SALT = "articles.preview"
PREVIEW_MAX_AGE = 7 * 24 * 3600  # seconds


def can_publish(user):
    return user.has_perm(PUBLISH_PERMISSION)


def check_can_publish(user):
    if not can_publish(user):
        raise PermissionDenied("Only editors can publish, schedule or unpublish.")


@transaction.atomic
def publish(article, *, user, at=None):
    """Publish now, or schedule when ``at`` is in the future."""
    check_can_publish(user)
    article.status = Article.Status.PUBLISHED
    article.publish_at = at or article.publish_at or timezone.now()
    article.save()
    return article


@transaction.atomic
def unpublish(article, *, user):
    """Take a story off the site; it goes back to draft."""
    check_can_publish(user)
    article.status = Article.Status.DRAFT
    article.save(update_fields=["status", "modified_at"])
    return article


def set_featured(queryset, *, user, featured):
    check_can_publish(user)
    count = queryset.update(is_featured=featured, modified_at=timezone.now())
    content_changed()  # update() sends no signal
    return count


@transaction.atomic
def add_correction(*, article, text, kind=Correction.Kind.CORRECTION, date=None):
    """Record a correction and bump the story's "Updated" time to it."""
    correction = Correction.objects.create(
        article=article, text=text, kind=kind, date=date or timezone.now()
    )
    bump_updated_at(article, correction.date)
    return correction


def bump_updated_at(article, when):
    if article.updated_at is None or article.updated_at < when:
        article.updated_at = when
        article.save(update_fields=["updated_at", "modified_at"])


def preview_url(article):
    """A signed link to the story as readers will see it, valid for 7 days."""
    token = signing.dumps(article.pk, salt=PREVIEW_SALT, compress=True)
    return reverse("articles:preview", kwargs={"token": token})


def preview_pk(token):
    """The primary key of the story a preview token names, or None if the
    token is forged or expired (the story itself may have gone since)."""
    try:
        pk = signing.loads(token, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    except signing.BadSignature:
        return None
    return pk if isinstance(pk, int) else None
