import logging

from django.conf import settings
from django.db import DatabaseError, connections
from django.middleware import csp, http
from django.shortcuts import render
from django.utils.cache import set_response_etag

from newsroom import routers, site

logger = logging.getLogger(__name__)


class ContentSecurityPolicyMiddleware(csp.ContentSecurityPolicyMiddleware):
    """Django's CSP middleware, with the admin's own policy under /admin/.

    Reader pages get ``SECURE_CSP`` (no script at all); the admin, whose
    rich-text editor needs scripts, gets ``ADMIN_CSP`` (nonced scripts).
    """

    admin_prefix = "/admin/"

    def process_response(self, request, response):
        if request.path.startswith(self.admin_prefix) and not hasattr(
            response, "_csp_config"
        ):
            response._csp_config = settings.ADMIN_CSP
        return super().process_response(request, response)


# The request headers that make a GET conditional (RFC 9110 §13.1).
CONDITIONAL_HEADERS = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
)


def is_conditional(request):
    """Whether the request has a validator (``If-None-Match`` and the like)."""
    return any(header in request.META for header in CONDITIONAL_HEADERS)


class ConditionalGetMiddleware(http.ConditionalGetMiddleware):
    """Django's, which parses the response's validators only when they can
    change the answer.

    Django's parses ``Last-Modified`` on every GET, an HTTP-date parse that
    costs a cached story page about as much as the cache lookup. But
    ``get_conditional_response()`` returns the response unchanged when the
    request has no ``If-*`` header, or when the response is not a success (a
    304 answered from the page cache, a 404): it is not called then. The
    ETag is added as Django's adds it.
    """

    def process_response(self, request, response):
        if request.method != "GET":
            return response
        if is_conditional(request) and 200 <= response.status_code < 300:
            return super().process_response(request, response)
        if self.needs_etag(response) and not response.has_header("ETag"):
            set_response_etag(response)
        return response


class URLContextMiddleware:
    """Reads the script prefix and URLconf once per request, for its links.

    Django sets both before it resolves the request's URL (the request's own
    ``urlconf`` included) and leaves them alone until the response is done;
    from the view on, ``newsroom.site.url_context()`` answers from what was
    read here instead of reading them for each of a page's links.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            site.forget_url_context()

    def process_view(self, request, view_func, view_args, view_kwargs):
        site.remember_url_context()


class DatabaseUnavailableMiddleware:
    """A database outage answers 503 with a styled page, never a traceback.

    Broken connections are closed so that the next request reconnects: when
    PostgreSQL is back, the site recovers without a restart. When only the
    read replica was lost, reads go to the primary for a while
    (``newsroom.routers.replica_failed``), so that the next requests are
    served.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DatabaseError):
            return None
        lost = _lost_connections()
        if not lost:
            return None
        if lost == {routers.REPLICA_ALIAS}:
            routers.replica_failed()
        logger.warning("Database unavailable: %s", exception)
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()
        response = render(request, "503.html", status=503)
        response["Retry-After"] = "30"
        response["Cache-Control"] = "no-store"
        return response


def _lost_connections():
    """Tell an outage from an ordinary query error (which stays a 500).

    Judged on the connections that failed in this request, before anything
    reconnects: during a restart the server may take connections again a
    moment after the error, and a fresh probe would then call the outage a
    query error. A connection whose connect (or rollback) failed is gone; a
    query error on a live connection leaves it usable. Returns the aliases
    of the connections lost (none: not an outage).
    """
    return {
        connection.alias
        for connection in connections.all(initialized_only=True)
        if connection.errors_occurred
        and (connection.connection is None or not connection.is_usable())
    }
