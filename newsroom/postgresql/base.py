"""Django's PostgreSQL backend, with a health check that asks the socket
before it asks the server.

With ``CONN_HEALTH_CHECKS`` Django checks a persistent connection before
each request's first query by running ``SELECT 1``: one more round trip to
the server for every page, which on a loaded two-core machine cost the
story page about an eighth of its time (the round trip waits for the
server's process to be scheduled). A session the server has ended (a
restart, ``pg_terminate_backend``, a crash) sends its error and closes the
socket, so the socket is readable; an idle session the server has nothing
to say about is not. The check therefore runs ``SELECT 1`` only when the
socket has something waiting or the connection is not idle, and otherwise
costs one ``poll()``.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        connection = self.connection
        if connection is None:
            return False
        pgconn = connection.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False  # psycopg already saw it fail
        if pgconn.transaction_status == pq.TransactionStatus.IDLE and _quiet(pgconn):
            return True
        return super().is_usable()


def _quiet(pgconn):
    """Whether nothing waits to be read on the connection's socket."""
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)
