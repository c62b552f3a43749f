"""The pages a process keeps in front of the shared cache (articles.caching)."""

import pytest
from django.core.cache import cache

from articles.caching import RecentPages
from tests.factories import make_article

pytestmark = pytest.mark.django_db


def page(size):
    return (200, b"x" * size, {"Content-Type": "text/html"})


def test_recent_pages_stay_within_their_bytes_dropping_the_least_recent():
    recent = RecentPages(limit=100)
    recent.put("a", page(40))
    recent.put("b", page(40))
    assert recent.get("a") is not None  # "a" is now the most recent
    recent.put("c", page(40))
    assert recent.get("b") is None
    assert recent.get("a") is not None and recent.get("c") is not None
    recent.put("huge", page(101))
    assert recent.get("huge") is None


def test_a_page_this_process_served_needs_no_trip_to_the_shared_cache(
    client, django_capture_on_commit_callbacks
):
    """Kept by the process, a cached page is served even while the shared
    cache has lost it; a change still shows at once (new keys)."""
    with django_capture_on_commit_callbacks(execute=True):
        story = make_article(headline="First words")
    url = story.get_absolute_url()
    assert client.get(url)["X-Cache"] == "miss"
    cache.clear()  # as Redis evicting it, or restarting
    again = client.get(url)
    assert again["X-Cache"] == "hit" and b"First words" in again.content

    with django_capture_on_commit_callbacks(execute=True):
        story.headline = "Second words"
        story.save()
    changed = client.get(url)
    assert changed["X-Cache"] == "miss" and b"Second words" in changed.content
