"""A Redis outage costs the cache, never a page (newsroom/cache.py)."""

import logging
import socket
import threading

import pytest
import redis
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from newsletter.models import Subscriber
from newsroom import cache as resilient
from tests.factories import make_article

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings):
    """The production cache settings, with nothing listening at the address."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "newsroom.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def test_pages_and_signups_go_on_while_redis_is_down(client, redis_down, caplog):
    article = make_article(headline="Still readable")
    with caplog.at_level(logging.WARNING, logger="newsroom.cache"):
        assert client.get("/").status_code == 200
        page = client.get(article.get_absolute_url())
        assert page.status_code == 200
        assert b"Still readable" in page.content
        signup = client.post("/newsletter/subscribe/", {"email": "reader@example.org"})
    assert signup.status_code == 303
    assert Subscriber.objects.filter(email="reader@example.org").exists()
    outage = [r for r in caplog.records if r.name == "newsroom.cache"]
    assert len(outage) == 1
    assert "Cache unavailable" in outage[0].getMessage()


def test_rate_limits_open_while_redis_is_down(redis_down):
    """A count that cannot be read is a first attempt, every time."""
    from newsroom import ratelimit

    assert cache.count_hit("rate:test:ip", 60) == 1
    assert not any(
        ratelimit.hit("test", "203.0.113.9", limit=1, window=60) for _ in range(5)
    )


def test_a_failed_redis_is_left_alone_for_a_while(redis_down, monkeypatch, caplog):
    """One timeout per pause, not one per call; then it is tried again."""
    attempts = []
    original_get = DjangoRedisCache.get

    def counting_get(self, *args, **kwargs):
        attempts.append(args[0])
        return original_get(self, *args, **kwargs)

    monkeypatch.setattr(DjangoRedisCache, "get", counting_get)
    now = [1000.0]
    monkeypatch.setattr(resilient, "_clock", lambda: now[0])

    assert cache.get("first", "missed") == "missed"
    assert cache.get("second", "missed") == "missed"
    assert attempts == ["first"]

    now[0] += resilient.RETRY_AFTER + 0.1
    monkeypatch.setattr(DjangoRedisCache, "get", lambda self, *a, **kw: "cached")
    with caplog.at_level(logging.WARNING, logger="newsroom.cache"):
        assert cache.get("third") == "cached"
    assert "available again" in caplog.records[-1].getMessage()


def test_threads_and_forked_processes_never_share_a_redis_connection(
    redis_down, monkeypatch
):
    """A connection shared between two threads (or a worker and the process
    it was forked from) would interleave their replies: one reader could be
    served another page. Each thread and process has its own."""
    from django.core.cache import caches

    # Each checkout a new connection, not yet connected: no server needed.
    monkeypatch.setattr(
        redis.ConnectionPool, "get_connection", lambda pool: pool.make_connection()
    )
    client = caches["default"]._cache
    mine = client.get_client()
    assert client.get_client() is mine
    assert mine.connection is not None

    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(client.get_client()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    assert theirs[0].connection is not mine.connection

    monkeypatch.setattr(resilient.os, "getpid", lambda: -1)
    forked = client.get_client()
    assert forked is not mine
    assert forked.connection is not mine.connection
