"""Read replica routing (optional: only with ``DATABASE_REPLICA_URL``).

Reader pages are almost all reads of stories, so those reads may go to a
streaming replica of PostgreSQL; everything else stays on the primary:

* only reads of the story models (the ``articles`` and ``taggit`` apps) go
  to the replica, and only while a request that can only read is being
  served: a GET or HEAD, without a session cookie (anonymous — what the
  page cache serves), outside the admin and previews;
* ``articles.ContentVersion`` is always read on the primary: the page cache
  is keyed by it, and a replica lagging behind would keep stale pages alive
  (and a scheduled story's bump would be retried on every read);
* once anything is written in a request, the rest of that request reads from
  the primary, and so does anything inside a transaction on the primary;
* outside requests (task workers, management commands, the shell) every
  query goes to the primary;
* writes and migrations go to the primary only; relations between objects
  from either database are allowed (they are the same data).

A replica lags a little behind the primary, so a story published a moment
ago can be missing from a replica read; the content version (read on the
primary) changes at once, so the page is rendered again within a second and
the page cache never keeps a page older than the version it was stored for.

The first request of each process reads from the primary: the router, and
the signal handlers that follow requests, are loaded by its first query.
"""

import logging
import time

from asgiref.local import Local
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA_ALIAS = "replica"
REPLICA_APPS = frozenset({"articles", "taggit"})
PRIMARY_ONLY_MODELS = frozenset({"articles.contentversion"})
# Never the replica: the newsdesk, and previews (editors open them right after
# saving a draft and must see what they saved).
PRIMARY_PATH_PREFIXES = ("/admin/", "/preview/")
READ_METHODS = frozenset({"GET", "HEAD"})
# After the replica has failed a request, reads go to the primary for this
# long before the replica is tried again (per process).
REPLICA_RETRY_AFTER = 30.0  # seconds

logger = logging.getLogger(__name__)
_state = Local()
_replica_resting_until = [0.0]
_clock = time.monotonic


def replica_configured():
    return REPLICA_ALIAS in settings.DATABASES


def begin_request(environ):
    """Decide for the request starting now whether its reads may use the replica."""
    path = environ.get("PATH_INFO", "") or "/"
    cookies = environ.get("HTTP_COOKIE", "")
    anonymous = f"{settings.SESSION_COOKIE_NAME}=" not in cookies
    _state.reader = (
        environ.get("REQUEST_METHOD", "GET").upper() in READ_METHODS
        and anonymous
        and not path.startswith(PRIMARY_PATH_PREFIXES)
    )
    _state.pinned = False


def end_request():
    _state.reader = False
    _state.pinned = False


def replica_failed():
    """The replica could not be reached: read from the primary for a while.

    Called by ``newsroom.middleware.DatabaseUnavailableMiddleware`` when a
    request failed on the replica's connection (that request answers 503);
    the primary then serves every read until ``REPLICA_RETRY_AFTER`` has
    passed, so a replica outage costs a request per process and pause, not
    the reader site.
    """
    if not replica_resting():
        logger.warning(
            "Read replica unavailable: reading from the primary for %d s.",
            REPLICA_RETRY_AFTER,
        )
    _replica_resting_until[0] = _clock() + REPLICA_RETRY_AFTER


def replica_resting():
    return _clock() < _replica_resting_until[0]


def pin_to_primary():
    """Send the rest of this request's reads to the primary."""
    _state.pinned = True


def _request_started(sender, environ=None, **kwargs):
    begin_request(environ or {})


def _request_finished(sender, **kwargs):
    end_request()


request_started.connect(_request_started, dispatch_uid="newsroom.routers.start")
request_finished.connect(_request_finished, dispatch_uid="newsroom.routers.finish")


class ReplicaRouter:
    """``DATABASE_ROUTERS = ["newsroom.routers.ReplicaRouter"]`` (set by settings)."""

    def db_for_read(self, model, **hints):
        if not replica_configured():
            return None
        if self._replica_allowed(model):
            return REPLICA_ALIAS
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        if not replica_configured():
            return None
        pin_to_primary()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the same rows as the primary.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if not replica_configured():
            return None
        return db == DEFAULT_DB_ALIAS

    def _replica_allowed(self, model):
        opts = model._meta
        return (
            opts.app_label in REPLICA_APPS
            and opts.label_lower not in PRIMARY_ONLY_MODELS
            and getattr(_state, "reader", False)
            and not getattr(_state, "pinned", False)
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
            and not replica_resting()
        )
