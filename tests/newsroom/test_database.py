"""newsroom.postgresql: the per-request health check of persistent connections."""

import select

import psycopg
import pytest
from django.db import connection

from articles.models import Section
from tests.factories import make_section

pytestmark = pytest.mark.django_db(transaction=True)


def _new_request():
    # What Django does at the start and end of every request.
    connection.close_if_unusable_or_obsolete()


def _last_query(pid):
    with psycopg.connect(**connection.get_connection_params()) as other:
        return other.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone()[0]


def test_checking_a_sound_connection_sends_nothing_to_the_server():
    """CONN_HEALTH_CHECKS checks a persistent connection before each
    request's first query. Django's check is a `SELECT 1` round trip, which
    under load cost the story page 13% of its time; a sound connection is
    now told by its socket, and the server sees only the page's queries."""
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    assert Section.objects.count() == 0  # the last request's last query
    pid = connection.connection.info.backend_pid
    _new_request()

    connection.close_if_health_check_failed()  # before the request's first query

    assert connection.connection.info.backend_pid == pid  # the same connection
    assert _last_query(pid).startswith("SELECT COUNT(*)")


def test_a_connection_cut_since_the_last_request_is_replaced():
    """A database restart ends every session: the next request checks its
    connection for real, opens a new one and answers as usual."""
    section = make_section(name="Weather")
    old_pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params()) as other:
        # Waits (up to 5 s) until the server process has gone.
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [old_pid])
    _new_request()

    assert Section.objects.get(pk=section.pk).name == "Weather"

    assert connection.connection.info.backend_pid != old_pid


def test_a_connection_with_a_message_waiting_is_checked_for_real():
    """Anything the server sent unasked (a notice, a notification, the error
    it sends before it ends a session) makes the check ask the server, as
    Django's does; a message that is not an error keeps the connection."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    connection.connection.execute("LISTEN newsroom_test")
    with psycopg.connect(
        **connection.get_connection_params(), autocommit=True
    ) as other:
        other.execute("NOTIFY newsroom_test")
    assert select.select([connection.connection.fileno()], [], [], 5)[0]

    assert connection.is_usable()

    assert _last_query(pid) == "SELECT 1"
    assert connection.connection.info.backend_pid == pid


@pytest.mark.parametrize(
    "url, engine",
    [
        ("postgres://u:p@db.example/newsroom", "newsroom.postgresql"),
        ("postgresql://u:p@db.example/newsroom", "newsroom.postgresql"),
        # GeoDjango's backend is left alone (it is PostgreSQL too, but ours
        # would take its spatial support away).
        ("postgis://u:p@db.example/newsroom", "django.contrib.gis.db.backends.postgis"),
    ],
)
def test_database_urls_get_the_projects_backend(url, engine):
    from newsroom.settings import _database_from_url

    assert _database_from_url(url)["ENGINE"] == engine
