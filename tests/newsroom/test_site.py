"""newsroom.site: a page's links follow the script prefix it is served under,
and what a request read of it does not outlive the request."""

import io
import re
import sys

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.templatetags.static import static
from django.urls import reverse, set_script_prefix

from articles.models import Article
from newsroom.site import slug_reverse, static_url, url_context
from tests.factories import make_article, make_section

pytestmark = pytest.mark.django_db


def _get(path, script_name=""):
    """A GET through Django's WSGI handler, which (unlike the test client)
    sets the script prefix from SCRIPT_NAME, as gunicorn's requests do."""
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }
    status = []
    # As the test client does: the test's transaction keeps its connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = WSGIHandler()(
            environ, lambda s, headers, exc_info=None: status.append(s)
        )
        body = b"".join(response)
        response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return status[0], body.decode()


@pytest.fixture
def root_prefix():
    yield
    set_script_prefix("/")


def _links(page):
    """The page's links to itself (static files are served apart)."""
    found = set(re.findall(r'href="(/[^"]*)"', page))
    return {link for link in found if not link.startswith(("/static/", "/media/"))}


def test_links_follow_the_script_prefix_of_each_request(root_prefix):
    section = make_section(slug="news")
    story = make_article(section=section, slug="bridge-reopens")
    make_article(section=section, slug="ferry-delayed")
    story_path = story.get_absolute_url()

    status, page = _get(story_path, script_name="/paper")
    assert status.startswith("200")
    links = _links(page)
    assert {"/paper/", "/paper/section/news/", "/paper/newsletter/"} <= links
    assert any(link.startswith("/paper/20") for link in links)  # the rail
    assert all(link.startswith("/paper/") for link in links), links

    # Served again at the root: nothing of the first request's prefix stays.
    status, page = _get(story_path)
    assert status.startswith("200")
    links = _links(page)
    assert {"/", "/section/news/", "/newsletter/"} <= links
    assert not any(link.startswith("/paper/") for link in links), links


@pytest.mark.parametrize(
    ("path", "status"),
    [("/newsletter/check-inbox/", "200"), ("/no-such-page/", "404")],
)
def test_other_pages_link_under_the_script_prefix(root_prefix, path, status):
    served, page = _get(path, script_name="/paper")

    assert served.startswith(status)
    links = _links(page)
    assert "/paper/" in links  # back to the front page
    assert all(link.startswith("/paper/") for link in links), links


def test_outside_a_request_the_current_prefix_applies(root_prefix):
    story = make_article(slug="bridge-reopens")
    _get(story.get_absolute_url(), script_name="/paper")

    set_script_prefix("/elsewhere/")
    assert url_context()[0] == "/elsewhere/"
    fresh = Article.objects.get(pk=story.pk)
    assert fresh.get_absolute_url().startswith("/elsewhere/")


@pytest.mark.parametrize("script_prefix", ["/", "/paper/"])
def test_slug_addresses_are_what_reverse_gives(root_prefix, script_prefix):
    """slug_reverse() puts a plain slug into a remembered address instead of
    calling reverse(); for any slug it gives what reverse() does."""
    set_script_prefix(script_prefix)
    views = ["articles:tag", "articles:section", "articles:author-feed-rss"]
    for viewname in views:
        for slug in ["budget", "x", "Z_9-a", "são-paulo", "café_2"]:
            if viewname != "articles:tag" and not slug.isascii():
                continue  # sections and authors have ASCII slugs
            expected = reverse(viewname, args=[slug])
            assert slug_reverse(viewname, slug) == expected
            assert expected.startswith(script_prefix)


def test_static_addresses_follow_the_settings(settings):
    """static_url() remembers static() per process: what it remembers goes
    when the settings change."""
    path = "css/site.css"
    assert static_url(path) == static(path)
    assert static_url(path).startswith("/static/")

    settings.STATIC_URL = "https://cdn.example/assets/"
    assert static_url(path) == static(path)
    assert static_url(path).startswith("https://cdn.example/assets/")
