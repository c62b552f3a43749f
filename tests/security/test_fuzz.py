"""Hypothesis-generated input against every public URL pattern, query
parameter and form: unicode, control characters, NUL bytes, very long
strings and odd encodings. The site may say no (400, 403, 404, 405, 429),
never 5xx."""

from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_article, make_author

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "%00",
            "..%2f..%2f",
            "'\";--",
            "<script>",
            "\u202e",
            "\ud7ff",
            "😀" * 50,
            "a" * 5000,
            "%ff%fe",
            "\r\nSet-Cookie: x=1",
        ]
    ),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
)


@pytest.fixture
def site():
    author = make_author(slug="known")
    article = make_article(authors=[author], tags=["known"])
    return {"article": article}


def public_patterns():
    """Every URL pattern outside the admin, as (pattern string, converters)."""
    found = []

    def walk(patterns, prefix=""):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if hasattr(entry, "url_patterns"):
                if not route.startswith("admin"):
                    walk(entry.url_patterns, route)
            else:
                found.append(route)

    walk(get_resolver().url_patterns)
    return found


def fill(route, value):
    """Put ``value`` (quoted) into every <converter:name> of a route."""
    out, rest = "", route
    while "<" in rest:
        before, _, after = rest.partition("<")
        _, _, rest = after.partition(">")
        out += before + quote(value, safe="")
    return "/" + (out + rest).lstrip("^").rstrip("$").replace("\\", "")


def assert_no_server_error(response, what):
    assert response.status_code < 500, (what, response.status_code)


def test_every_public_route_is_covered():
    """The fuzzer walks all public routes (a new one is fuzzed automatically)."""
    routes = public_patterns()
    assert any("yyyy" in r or "year" in r for r in routes)
    assert len(routes) >= 15


@FUZZ
@given(value=nasty_text)
def test_url_parameters(site, value):
    """Any value in any path parameter of any public route."""
    client = Client(raise_request_exception=False)
    for route in public_patterns():
        path = fill(route, value)
        assert_no_server_error(client.get(path), path)


@FUZZ
@given(
    value=nasty_text,
    name=st.sampled_from(["q", "page", "p", "email", "utm_source", "fbclid"]),
)
def test_query_parameters(site, value, name):
    """Any value in the query parameters readers' pages read."""
    client = Client(raise_request_exception=False)
    pages = [
        "/",
        "/search/",
        "/section/" + site["article"].section.slug + "/",
        "/tag/known/",
        "/author/known/",
        site["article"].get_absolute_url(),
        "/feeds/rss/",
        "/sitemap.xml",
        "/sitemap-articles.xml",
    ]
    for page in pages:
        response = client.get(page, {name: value})
        assert_no_server_error(response, (page, name))


@FUZZ
@given(raw=nasty_text)
def test_raw_query_strings(site, raw):
    """Any query string as it came, names included (the page cache reads
    every parameter's name to leave tracking parameters out of its key)."""
    client = Client(raise_request_exception=False)
    for page in ["/", site["article"].get_absolute_url(), "/feeds/rss/"]:
        for query in (raw, f"fbclid=1&{raw}", f"{raw}&utm_source=x"):
            response = client.get(page, QUERY_STRING=query)
            assert_no_server_error(response, (page, query))


@FUZZ
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain",
            "application/json",
            "application/x-www-form-urlencoded; charset=utf-16",
        ]
    ),
)
def test_raw_post_bodies(site, body, content_type):
    """Garbage POST bodies to every public route get an answer, not a crash."""
    client = Client(raise_request_exception=False)
    for route in public_patterns():
        path = fill(route, "known")
        response = client.generic("POST", path, body, content_type=content_type)
        assert_no_server_error(response, path)
