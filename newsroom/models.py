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
    such as ``ImageField``'s) it is Django's own. The reader's lists load
    through ``instance_maker()``, which asks the signals once a list.
    """

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values, *, fetch_mode=None, direct=None):
        """As Django's; ``direct`` is ``loads_directly()`` when the caller
        asked it once for a batch of rows (see ``instance_maker()``)."""
        if direct is None:
            direct = cls.loads_directly()
        if not direct:
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

    @classmethod
    def loads_directly(cls):
        """Whether ``from_db()`` may leave ``__init__`` out now: the model
        allows it and no ``pre_init`` or ``post_init`` receiver listens to
        it (asking the two signals costs half of loading an instance
        directly)."""
        return (
            _loads_directly(cls)
            and not pre_init.has_listeners(cls)
            and not post_init.has_listeners(cls)
        )


def instance_maker(model, db):
    """``make(field_names, values)``, the same as ``model.from_db(db,
    field_names, values)``, for the rows of one batch (a list's stories,
    their sections...): a ``DirectLoadModel`` asks its signals once here
    instead of once a row. A receiver connected while a batch is being
    loaded sees the instances of later batches only.
    """
    if issubclass(model, DirectLoadModel):
        return functools.partial(model.from_db, db, direct=model.loads_directly())
    return functools.partial(model.from_db, db)


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


def insert_columns(instance, fields, connection):
    """For a hand-written ``INSERT`` of the unsaved ``instance``: its
    ``fields``' quoted column names (comma-separated) and the values
    ``save()`` would insert for them (each field's ``pre_save()``, then its
    preparation for ``connection``), in the same order."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    values = [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for field in fields
    ]
    return columns, values
