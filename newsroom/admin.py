"""The desk's admin site: Django's, refusing input that would reach the
database as a 500.

``NewsroomAdminConfig`` (``newsroom.apps``) makes it ``admin.site``, as
Django documents for overriding the default admin site. The autocomplete
widgets and ``AutocompleteFieldsMixin`` are for the model admins.
"""

import functools

from django.contrib import admin
from django.contrib.admin import widgets
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.urls import get_script_prefix
from django.utils.translation import get_language

from articles.caching import RecentlyUsed


class NewsroomAdminSite(admin.AdminSite):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._app_lists = RecentlyUsed(64, weigh=lambda app_list: 1)

    def get_app_list(self, request, app_label=None):
        """Django's, remembered by the process for the user's permissions.

        Every admin page lists the apps and models the user may see in its
        navigation sidebar, and Django builds the list afresh each time:
        two ``reverse()`` and the model admin's permission checks for each
        registered model, 0.6 ms of a desk page's CPU. The list depends on
        the user's permissions (a superuser has them all), on the language
        of its names and on the script prefix of its addresses: a change to
        any of them is another list. The site's model admins decide on
        permissions alone where no object is given (``has_*_permission(
        request)``, as Django's do). The list is shared: not to be changed.
        """
        user = request.user
        permissions = (
            "all" if user.is_superuser else frozenset(user.get_all_permissions())
        )
        key = (
            user.is_active,
            user.is_staff,
            permissions,
            app_label,
            get_language(),
            get_script_prefix(),
        )
        app_list = self._app_lists.get(key)
        if app_list is None:
            app_list = super().get_app_list(request, app_label)
            self._app_lists.put(key, app_list)
        return app_list

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
          Django hands to the form's widgets as they are;
        * a date drill-down to a year no date can hold
          (``?publish_at__year=99999999999999999999``): Django sends a bad
          drill-down back with ``?e=1``, but catches only the ``ValueError``
          of a bad date, not this one's ``OverflowError``; so does this.

        Checked once Django has let the request in (a login, the
        permission, CSRF), as the view itself would be.
        """
        model_admin = getattr(view, "__self__", None)
        if not isinstance(model_admin, admin.ModelAdmin):
            model_admin = None
        pk = model_admin.model._meta.pk if model_admin else None
        adding = model_admin is not None and view.__name__ == "add_view"
        drill_down = None
        if model_admin is not None and view.__name__ == "changelist_view":
            drill_down = model_admin.date_hierarchy

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
            if drill_down and _overflowing_date(request, drill_down):
                return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
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


def _overflowing_date(request, field):
    """Whether the drill-down's year, month or day is a number too large
    for ``datetime`` to take at all (Django's own check refuses the rest)."""
    for part in ("year", "month", "day"):
        try:
            number = int(request.GET.get(f"{field}__{part}", ""))
        except ValueError:
            continue
        if abs(number) >= 2**31:
            return True
    return False


def _get(request):
    for key, values in request.GET.lists():
        for value in values:
            yield key, value


def _bad_request(message):
    return HttpResponseBadRequest(message, content_type="text/plain")


class _KeysOnlyMixin:
    """Django's autocomplete widget, showing only selected values that can be
    keys of the related model.

    An invalid form is shown again with what the editor posted, and Django's
    widget looks the posted values up as they are to label them: a value
    that is no key of the model ("abc" for an integer key, a NUL in text)
    made the query fail, a 500 in place of the form's "Select a valid
    choice", and the editor's unsaved work was lost.
    """

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        opts = remote.model._meta
        key = opts.get_field(getattr(remote, "field_name", None) or opts.pk.name)
        return super().optgroups(name, [v for v in value if _is_key(key, v)], attr)


def _is_key(field, value):
    if "\x00" in str(value):
        return False
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return True


class AutocompleteSelect(_KeysOnlyMixin, widgets.AutocompleteSelect):
    pass


class AutocompleteSelectMultiple(_KeysOnlyMixin, widgets.AutocompleteSelectMultiple):
    pass


class AutocompleteFieldsMixin:
    """For a ``ModelAdmin`` or an inline: its ``autocomplete_fields`` with the
    widgets above in place of Django's."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and self._autocompletes(db_field, request):
            kwargs["widget"] = AutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and self._autocompletes(db_field, request):
            kwargs["widget"] = AutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _autocompletes(self, db_field, request):
        return db_field.name in self.get_autocomplete_fields(request)
