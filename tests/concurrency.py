"""Helpers for tests of two transactions at once."""

import threading

import pytest
from django.db import connection


def wait_until_another_transaction_waits(errors):
    """Return once another connection waits for a lock (one this test's
    transaction holds), so that committing then shows what the waiter does
    next; fail the test, with the other thread's ``errors``, after 5 s."""
    with connection.cursor() as cursor:
        for _ in range(500):
            # A transaction sees the activity as first read unless told.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                "'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            threading.Event().wait(0.01)
    pytest.fail(f"the second transaction never waited: {errors}")
