"""Keep cached reader pages honest: any change readers can see bumps the
content version (see ``articles.caching``). Invalidation is the one job done
in signals, because every write path — admin, actions, services, shell —
must trigger it and none of them should have to remember to."""

from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_save
from taggit.models import Tag, TaggedItem

from articles.caching import content_changed
from articles.models import Article, Author, Byline, Correction, Photo, Section

WATCHED = (Article, Author, Byline, Correction, Photo, Section, Tag, TaggedItem)


def _changed(sender, **kwargs):
    if not kwargs.get("raw"):
        content_changed()


def _deleted(sender, instance, origin=None, **kwargs):
    # A row deleted with another (a tag's items with the tag: thousands for
    # a popular one) leaves the bump to that other's own signal: one bump,
    # not four queries for every row the deletion took with it.
    if isinstance(origin, QuerySet):
        model, taken_along = origin.model, not isinstance(instance, origin.model)
    else:
        model, taken_along = type(origin), origin is not None and origin is not instance
    if taken_along and model in WATCHED:
        return
    content_changed()


def connect():
    for model in WATCHED:
        post_save.connect(
            _changed, sender=model, dispatch_uid=f"content-{model.__name__}"
        )
        post_delete.connect(
            _deleted, sender=model, dispatch_uid=f"content-del-{model.__name__}"
        )
    m2m_changed.connect(
        _changed, sender=Article.related.through, dispatch_uid="content-related"
    )
