"""The desk's admin site: Django's, refusing input that would reach the
database as a 500.

``NewsroomAdminConfig`` (``newsroom.apps``) makes it ``admin.site``, as
Django documents for overriding the default admin site.
"""

import functools

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest


class NewsroomAdminSite(admin.AdminSite):
    def admin_view(self, view, cacheable=False):
        """Every admin view, answering 400 to input Django passes straight
        to a query:

        * a NUL character in the query string or the address, which
          PostgreSQL refuses in text (the autocomplete's term, a changelist
          filter on a text column, the key a story's history is looked up
          by); the changelist's search box refuses it through its form;
        * an action's selected rows that are not keys of the model
          (``_selected_action=abc``), which Django filters on as they are;
        * values an add form's fields refuse, given in the query string to
          fill the form in (``?section=abc``, ``?publish_at=zzz``), which
          Django hands to the form's widgets as they are.

        Checked once Django has let the request in (a login, the
        permission, CSRF), as the view itself would be.
        """
        model_admin = getattr(view, "__self__", None)
        if not isinstance(model_admin, admin.ModelAdmin):
            model_admin = None
        pk = model_admin.model._meta.pk if model_admin else None
        adding = model_admin is not None and view.__name__ == "add_view"

        @functools.wraps(view)
        def checked(request, *args, **kwargs):
            if any("\x00" in key or "\x00" in value for key, value in _get(request)):
                return _bad_request("A query string cannot hold a NUL character.")
            if any("\x00" in str(value) for value in (*args, *kwargs.values())):
                return _bad_request("An address cannot hold a NUL character.")
            if pk is not None and request.method == "POST":
                try:
                    for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
                        pk.to_python(value)
                except ValidationError:
                    return _bad_request("The selection is not a list of rows.")
            if adding and request.method == "GET" and request.GET:
                refused = _refused_initial_data(model_admin, request)
                if refused:
                    return _bad_request(f"Not a value for the form's {refused!r}.")
            return view(request, *args, **kwargs)

        return super().admin_view(checked, cacheable)


def _refused_initial_data(model_admin, request):
    """The first field of the add form whose value from the query string its
    form field does not accept, if any."""
    fields = model_admin.get_form(request).base_fields
    for name, value in model_admin.get_changeform_initial_data(request).items():
        field = fields.get(name)
        if field is None or value in field.empty_values:
            continue
        try:
            field.clean(value)
        except ValidationError:
            return name
    return None


def _get(request):
    for key, values in request.GET.lists():
        for value in values:
            yield key, value


def _bad_request(message):
    return HttpResponseBadRequest(message, content_type="text/plain")
