"""The desk's admin site: Django's, but for its autocomplete.

``NewsroomAdminConfig`` (``newsroom.apps``) makes it ``admin.site``, as
Django documents for overriding the default admin site.
"""

from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView


class AutocompleteView(AutocompleteJsonView):
    """Django's autocomplete, searching the typed term without NUL characters.

    PostgreSQL refuses them in text, so a term holding one was a 500. The
    changelist's search box drops them already (its form field refuses
    them); the autocomplete reads the term straight from the query string.
    """

    def process_request(self, request):
        term, model_admin, source_field, to_field_name = super().process_request(
            request
        )
        return term.replace("\x00", ""), model_admin, source_field, to_field_name


class NewsroomAdminSite(admin.AdminSite):
    def autocomplete_view(self, request):
        return AutocompleteView.as_view(admin_site=self)(request)
