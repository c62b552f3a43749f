"""The site's URLs plus ``/bench/floor/``, the benchmark's baseline view."""

from django.http import HttpResponse
from django.urls import path

from newsroom.urls import urlpatterns as site_urlpatterns

MAX_FLOOR_BYTES = 1_000_000
_bodies = {}


def floor(request):
    """The least a Django page can cost: ``?bytes=N`` bytes, no database.

    The body is built once per size, so a request costs only the framework:
    the same middleware, the same ETag hashing, the same WSGI server.
    """
    try:
        size = min(max(int(request.GET.get("bytes", "35000")), 1), MAX_FLOOR_BYTES)
    except ValueError:
        size = 35000
    body = _bodies.get(size)
    if body is None:
        line = b"<p>" + b"x" * 95 + b"</p>\n"
        body = _bodies[size] = (line * (size // len(line) + 1))[:size]
    return HttpResponse(body, content_type="text/html; charset=utf-8")


urlpatterns = [path("bench/floor/", floor), *site_urlpatterns]
