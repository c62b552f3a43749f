"""Django's Redis cache, for a Redis that may be down.

Everything the site keeps in the cache is a copy or a counter: finished
pages, the navigation, archives' page boundaries, rate-limit counts. When
Redis is down, or does not answer within its socket timeout, Django's own
backend raises, and every page would be a 500. Here a read is a miss, a
write is skipped and a counter starts afresh: readers get pages built from
the database, signups still go through (the rate limits open), and a
warning is logged once per outage.

After a failure the cache is left alone for ``RETRY_AFTER`` seconds, so an
unreachable Redis costs one timeout per thread and pause, not one per call.
"""

import contextlib
import logging
import os
import threading
import time

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

RETRY_AFTER = 5.0  # seconds
_clock = time.monotonic


class ReusedClient(RedisCacheClient):
    """Django's Redis client, keeping one ``redis.Redis`` per connection
    pool, thread and process, each holding its own connection.

    Django makes a new ``redis.Redis`` for every call, and its constructor
    fills a table of some 170 reply handlers: in-process, a cached story
    from Redis went from 1.41 to 1.25 ms with one object per pool (the
    floor's whole request is about 0.7). Each object is moreover a
    ``single_connection_client``: redis-py's pool checks a connection out
    and back in around every command, with its locks, event dispatch and
    metrics hooks, which cost more of the worker's CPU than the round trip
    itself (a GET that misses, 147 against 89 µs; the SET of a story page,
    184 against 149; redis-py 8.1). A thread's connection is its own, so the
    client's lock is never contended; a forked process starts afresh (the
    parent's socket must not be shared), and when a thread ends its client
    goes with it and gives the connection back to the pool.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._client = _Client
        self._local = threading.local()

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        local = self._local
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            local.pid, local.clients = pid, {}
        client = local.clients.get(pool)
        if client is None:
            client = local.clients[pool] = self._client(
                connection_pool=pool, single_connection_client=True
            )
        elif client.unread_reply:
            _read_reply(client)
        return client

    def get(self, key, default):
        """Django's ``get()``, sending ``GET`` on the thread's connection
        itself: every uncached page asks for itself first, and redis-py's
        ``execute_command()`` around the exchange (its lock, retry and
        callbacks, for a client no other thread uses) cost the worker more
        CPU than the exchange. A connection Redis has closed is opened again
        and the ``GET`` sent once more through redis-py, as its retry would.
        """
        client = self.get_client(key)
        connection = client.connection
        try:
            connection.send_command("GET", key)
            value = connection.read_response()
        except (RedisConnectionError, RedisTimeoutError):
            connection.disconnect()
            value = client.get(key)
        return default if value is None else self._serializer.loads(value)

    def set_unacknowledged(self, key, value, timeout):
        """``set()``, sending the ``SET`` without waiting for Redis's reply:
        the reply is read before the next command on the connection
        (``get_client()``), as in a pipeline.

        For the page cache, whose uncached pages end with a ``SET`` of the
        page: waiting for its reply was the worker's fourth wait of an
        uncached story (bench/README.md, "Where the time goes"). The page
        is in Redis as soon as Redis reads the command, for every worker.
        """
        client = self.get_client(key, write=True)
        if timeout == 0:
            client.delete(key)
            return
        command = ["SET", key, self._serializer.dumps(value)]
        if timeout is not None:
            command += ["EX", timeout]
        client.connection.send_command(*command)
        client.unread_reply = True


class _Client(redis.Redis):
    """redis-py's client, knowing whether the reply to its last
    ``set_unacknowledged()`` is still unread."""

    unread_reply = False

    def close(self):
        # Called when the client's thread ends: its connection goes back to
        # the pool, and the next client to take it would read the reply
        # left on it for its own. One with a reply unread is closed instead.
        if self.unread_reply and getattr(self, "connection", None):
            self.unread_reply = False
            self.connection.disconnect()
        super().close()


def _read_reply(client):
    """Read the reply to ``set_unacknowledged()``'s command. A refusal
    (``ResponseError``: Redis out of memory, say) is raised as any command's
    would be; a connection lost since is closed, and the command at hand
    opens a new one (the page may not have been stored: a later request
    stores it)."""
    client.unread_reply = False
    # On a lost connection redis-py has closed it: the next command reopens it.
    with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
        client.connection.read_response()


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` that never fails a request."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClient
        self._resting_until = 0.0
        self._failing = False

    def _call(self, fallback, method, *args, **kwargs):
        if self._resting_until and _clock() < self._resting_until:
            return fallback
        try:
            result = method(*args, **kwargs)
        except RedisError as error:
            if not self._failing:
                logger.warning(
                    "Cache unavailable, serving without it for now: %s", error
                )
            self._failing = True
            self._resting_until = _clock() + RETRY_AFTER
            return fallback
        if self._failing:
            logger.warning("Cache available again.")
            self._failing = False
            self._resting_until = 0.0
        return result

    def get(self, key, default=None, version=None):
        return self._call(default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._call({}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._call(False, super().has_key, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(False, super().add, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(None, super().set, key, value, timeout, version)

    def set_unacknowledged(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        """``set()``, without waiting for Redis to acknowledge it (see
        ``ReusedClient.set_unacknowledged()``)."""
        key = self.make_and_validate_key(key, version=version)
        return self._call(
            None,
            self._cache.set_unacknowledged,
            key,
            value,
            self.get_backend_timeout(timeout),
        )

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(list(data), super().set_many, data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(False, super().touch, key, timeout, version)

    def count_hit(self, key, timeout, version=None):
        """Add one to the counter ``key``, started for ``timeout`` seconds
        when missing, and return the count (``newsroom.ratelimit``).

        One round trip: ``SET NX EX`` and ``INCR`` in a ``MULTI`` block, so
        the counter cannot expire between the two and be started again
        without a lifetime. Django's ``add()`` and ``incr()`` took three
        (``incr()`` asks ``EXISTS`` first), and a round trip costs the worker
        more CPU than the Python around it: a signup took 6.41 ms of CPU
        under the benchmark, 5.86 with one (bench/README.md). A Redis that
        cannot answer counts 1: rate limits open rather than turning everyone
        away.
        """
        key = self.make_and_validate_key(key, version=version)

        def count():
            client = self._cache.get_client(key, write=True)
            pipeline = client.pipeline(transaction=True)
            # Django stores integers as they are, so INCR and get() agree.
            pipeline.set(key, 0, ex=self.get_backend_timeout(timeout), nx=True)
            pipeline.incr(key)
            return pipeline.execute()[1]

        return self._call(1, count)

    def incr(self, key, delta=1, version=None):
        # A counter that cannot be read starts afresh: rate limits open
        # rather than turning everyone away.
        return self._call(delta, super().incr, key, delta, version)

    def delete(self, key, version=None):
        return self._call(False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        return self._call(None, super().delete_many, keys, version)

    def clear(self):
        return self._call(False, super().clear)


def set_unacknowledged(cache, key, value, timeout=DEFAULT_TIMEOUT):
    """``cache.set()``, without waiting for the acknowledgement where
    ``cache`` is this module's Redis cache (any other cache just sets)."""
    setter = getattr(cache, "set_unacknowledged", None) or cache.set
    setter(key, value, timeout)
