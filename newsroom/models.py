"""Model base classes for the project's apps (abstract: no tables here)."""

import functools

from django.db import models
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

# Field descriptors that leave a value set on a new instance as it is, in
# the instance's __dict__ (a foreign key's also forgets a cached related
# object, which a new instance does not have).
_PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)


class DirectLoadModel(models.Model):
    """A model whose rows become instances without ``Model.__init__``.

    ``Model.from_db()`` makes an instance by calling the model with a value
    for every field, and ``Model.__init__`` sends ``pre_init`` and
    ``post_init`` and sets each field with ``setattr``: about 80,000
    interpreter instructions an instance, a tenth of a story page's and more
    of the front page's, which loads some 190 instances. Where nothing could
    tell the difference, this ``from_db()`` puts the values in the instance's
    ``__dict__``, where ``__init__`` would have put them, and sets the state
    ``from_db()`` sets; fields not loaded are left out, as deferred fields
    are. Otherwise (a receiver of either signal for the model, a custom
    ``__init__``, a field descriptor that does more than store the value,
    such as ``ImageField``'s) it is Django's own.
    """

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values, *, fetch_mode=None):
        if (
            not _loads_directly(cls)
            or pre_init.has_listeners(cls)
            or post_init.has_listeners(cls)
        ):
            return super().from_db(db, field_names, values, fetch_mode=fetch_mode)
        instance = cls.__new__(cls)
        state = instance._state = ModelState()
        state.adding = False
        state.db = db
        if fetch_mode is not None:
            state.fetch_mode = fetch_mode
        # field_names are attnames (Django's iterables and the project's
        # loaders pass them so), matched by name rather than by position.
        instance.__dict__.update(zip(field_names, values, strict=True))
        return instance


@functools.cache
def _loads_directly(model):
    if model.__init__ is not models.Model.__init__:
        return False
    for field in model._meta.concrete_fields:
        descriptor = _class_attribute(model, field.attname)
        if descriptor is not None and type(descriptor) not in _PLAIN_DESCRIPTORS:
            return False
    return True


def _class_attribute(model, name):
    for klass in model.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None
