"""The desk's admin site: Django's, refusing NUL characters in query strings.

``NewsroomAdminConfig`` (``newsroom.apps``) makes it ``admin.site``, as
Django documents for overriding the default admin site.
"""

import functools

from django.contrib import admin
from django.http import HttpResponseBadRequest


class NewsroomAdminSite(admin.AdminSite):
    def admin_view(self, view, cacheable=False):
        """Every admin view, answering 400 to a query string holding a NUL
        character.

        PostgreSQL refuses NUL in text, and several admin views pass query
        string values straight to a query (the autocomplete's term, a
        changelist filter on a text column): each was a 500. The changelist's
        search box already refuses NUL through its form field.
        """
        wrapped = super().admin_view(view, cacheable)

        @functools.wraps(wrapped)
        def refuse_nul(request, *args, **kwargs):
            if any("\x00" in key or "\x00" in value for key, value in _items(request)):
                return HttpResponseBadRequest(
                    "A query string cannot hold a NUL character.",
                    content_type="text/plain",
                )
            return wrapped(request, *args, **kwargs)

        return refuse_nul


def _items(request):
    for key, values in request.GET.lists():
        for value in values:
            yield key, value
