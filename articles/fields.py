from django_prose_editor.fields import ProseEditorField

from articles.html import EDITOR_EXTENSIONS, clean_html


class RichTextField(ProseEditorField):
    """A text column holding sanitized HTML, edited with the rich-text editor.

    Sanitizing in ``get_prep_value`` means every way a value reaches the
    database is covered: ``save()``, ``objects.create()``, ``bulk_create()``,
    ``update()``, ``bulk_update()`` and fixtures loaded with ``loaddata`` (which
    bypass ``Model.save()``). ``pre_save`` also cleans the instance itself, so
    what the caller holds after saving is what was stored.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("extensions", dict(EDITOR_EXTENSIONS))
        # The same sanitizer in form validation (so the editor shows what
        # will be stored) and, below, on every write.
        kwargs["sanitize"] = clean_html
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance, add):
        value = clean_html(getattr(model_instance, self.attname))
        setattr(model_instance, self.attname, value)
        return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return clean_html(value) if isinstance(value, str) else value
