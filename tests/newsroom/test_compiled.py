"""newsroom.compiled: a queryset compiled once, run with new values each time."""

import itertools
import re
from datetime import timedelta

import pytest
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import F, IntegerField
from django.utils import timezone

from articles.models import Article
from newsroom.compiled import CompiledQuery, InArray, Param
from tests.factories import make_article, make_section

pytestmark = pytest.mark.django_db


def _latest_query(variant):
    return (
        Article.objects.published()
        .filter(section_id=Param("section", IntegerField()))
        .exclude(InArray(F("pk"), Param("seen", ArrayField(IntegerField()))))
        .order_by("-publish_at")
        .values_list("headline", flat=True)[:variant]
    )


def test_each_run_uses_its_own_values_and_the_database_clock():
    builds = []

    def build(variant):
        builds.append(variant)
        return _latest_query(variant)

    latest = CompiledQuery(Article, build)
    news, sport = make_section(), make_section()
    now = timezone.now()
    old = make_article(section=news, headline="Old", publish_at=now - timedelta(2))
    make_article(section=news, headline="New", publish_at=now - timedelta(1))
    make_article(section=sport, headline="Sport")
    soon = make_article(
        section=news, headline="Soon", publish_at=now + timedelta(seconds=1)
    )

    assert latest.rows(2, section=news.pk, seen=[]) == [("New",), ("Old",)]
    assert latest.rows(2, section=sport.pk, seen=[]) == [("Sport",)]
    assert latest.rows(2, section=news.pk, seen=[old.pk]) == [("New",)]
    assert latest.rows(1, section=news.pk, seen=[]) == [("New",)]
    assert builds == [2, 1]  # compiled once per variant

    # Compiled before the scheduled story went live, and yet it appears once
    # its time has come: "now" is the database's, at each run.
    Article.objects.filter(pk=soon.pk).update(publish_at=now - timedelta(hours=1))
    assert latest.rows(2, section=news.pk, seen=[]) == [("Soon",), ("New",)]


@pytest.mark.parametrize("prepared", [True, False])
def test_a_paged_query_is_one_statement_for_every_page(prepared):
    """LIMIT and OFFSET are values of each run, not a statement per page."""
    builds = []

    def build(variant):
        builds.append(variant)
        return _latest_query(None)  # not sliced: rows() pages it

    pages = CompiledQuery(Article, build, prepare=prepared, paged=True)
    section = make_section()
    now = timezone.now()
    for n in range(5):
        make_article(
            section=section, headline=f"Story {n}", publish_at=now - timedelta(n)
        )

    def page(limit, offset):
        rows = pages.rows(section=section.pk, seen=[], limit=limit, offset=offset)
        return [headline for (headline,) in rows]

    assert page(2, 0) == ["Story 0", "Story 1"]
    assert page(2, 2) == ["Story 2", "Story 3"]
    assert page(3, 4) == ["Story 4"]
    assert page(2, 9) == []
    assert builds == [None]
    with pytest.raises(ValueError, match="sliced"):
        CompiledQuery(Article, _latest_query, paged=True).rows(
            2, section=section.pk, seen=[], limit=1, offset=0
        )


def test_a_missing_value_is_a_clear_error():
    latest = CompiledQuery(Article, _latest_query)

    with pytest.raises(TypeError, match="'seen'"):
        latest.rows(3, section=1)


def test_runs_are_counted_like_any_query(django_assert_num_queries):
    latest = CompiledQuery(Article, _latest_query)

    with django_assert_num_queries(1):
        latest.rows(3, section=1, seen=[])


@pytest.mark.parametrize("prepared", [True, False])
def test_runs_as_a_prepared_statement_unless_turned_off(prepared):
    """PostgreSQL plans a compiled query once per connection; with prepared
    statements off (PgBouncer in transaction mode) it still runs."""
    latest = CompiledQuery(Article, _latest_query)
    section = make_section()
    make_article(section=section, headline="Only")
    connection.ensure_connection()
    saved = connection.connection.prepare_threshold
    connection.connection.prepare_threshold = 5 if prepared else None
    try:
        before = _prepared_statements()
        for _ in range(3):
            assert latest.rows(1, section=section.pk, seen=[]) == [("Only",)]
        assert _prepared_statements() - before == (1 if prepared else 0)
    finally:
        connection.connection.prepare_threshold = saved


def test_a_query_planned_for_its_values_is_not_prepared():
    """``prepare=False``: a query whose best plan depends on its values
    (search) is planned on each run, so it never becomes a prepared
    statement, whose plan would be the same for every value."""
    latest = CompiledQuery(Article, _latest_query, prepare=False)
    section = make_section()
    make_article(section=section, headline="Only")
    before = _prepared_statements()

    for _ in range(6):
        assert latest.rows(1, section=section.pk, seen=[]) == [("Only",)]

    assert _prepared_statements() == before


def test_a_prepared_statement_is_planned_once_not_on_every_run():
    """PostgreSQL plans the first five runs of a prepared statement afresh
    for their values, and goes on doing so whenever it guesses a generic
    plan would cost more (it did for the front page's queries, whose values
    are arrays): the project asks for the generic plan from the first run
    (``plan_cache_mode``), so a run costs no planning."""
    latest = CompiledQuery(Article, _latest_query)
    section = make_section()
    make_article(section=section, headline="Only")

    for _ in range(3):
        assert latest.rows(1, section=section.pk, seen=[]) == [("Only",)]

    numbers = itertools.count(1)  # psycopg numbers the placeholders
    statement = re.sub("%s", lambda _: f"${next(numbers)}", latest.sql(1)[0])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement = %s",
            [statement],
        )
        assert cursor.fetchall() == [(3, 0)]


def test_lists_of_ids_of_any_size_share_one_prepared_statement():
    """A list of integers is sent as one ``bigint[]`` whatever its values:
    psycopg would send small ids as ``smallint[]`` and larger ones as
    ``integer[]``, a prepared statement (and a plan) for each."""
    latest = CompiledQuery(Article, _latest_query)
    section = make_section()
    only = make_article(section=section, headline="Only")
    before = _prepared_statements()

    for other in ([], [only.pk + 1], [only.pk + 70_000], [only.pk + 2**40]):
        assert latest.rows(1, section=section.pk, seen=other) == [("Only",)]

    assert _prepared_statements() - before == 1


def test_the_database_connection_sends_lists_of_ids_with_their_dumper():
    from psycopg.adapt import PyFormat

    from newsroom.compiled import IdArray, _IdArrayDumper

    connection.ensure_connection()
    dumper = connection.connection.adapters.get_dumper(IdArray, PyFormat.AUTO)
    assert dumper is _IdArrayDumper


@pytest.mark.parametrize("junk", [["1}"], ["1; DROP TABLE articles_article"], [None]])
def test_a_list_of_ids_holding_something_else_is_refused_before_the_query(junk):
    """The array is written as integers, never as the text given: "1}"
    would otherwise close the array literal early."""
    latest = CompiledQuery(Article, _latest_query)

    with pytest.raises((TypeError, ValueError)):
        latest.rows(1, section=1, seen=junk)
    assert Article.objects.count() == 0  # the table is still there


def _prepared_statements():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_since_the_last_request_is_replaced():
    """With CONN_HEALTH_CHECKS (the project's setting), a persistent
    connection cut by a database restart is checked and replaced before a
    compiled query uses it, as before any ORM query: the reader gets the
    page, not an error."""
    import psycopg

    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    headlines = CompiledQuery(Article, _latest_query)
    section = make_section()
    make_article(section=section, headline="Still here")
    connection.ensure_connection()
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute(
            "SELECT pg_terminate_backend(%s, 5000)",
            [connection.connection.info.backend_pid],
        )
    connection.close_if_unusable_or_obsolete()  # what a new request does first
    assert headlines.rows(2, section=section.pk, seen=[]) == [("Still here",)]


def test_the_story_pages_query_is_converted_once_per_process(monkeypatch):
    """psycopg turns a query's placeholders into PostgreSQL's once and
    remembers it, but by default only for queries of up to 4 KB; the story
    page's query, longer, is remembered too (newsroom.compiled)."""
    from psycopg import _queries

    from articles import reader

    story = make_article(tags=["flood"])
    assert reader.story(story.url_date, story.slug) == story
    sql, _ = reader._STORY.sql("address")
    assert len(sql.encode()) > 4096
    conversions = []
    convert = _queries._query2pg_nocache

    def counted(*args):
        conversions.append(args)
        return convert(*args)

    monkeypatch.setattr(_queries, "_query2pg_nocache", counted)

    assert reader.story(story.url_date, story.slug) == story
    assert conversions == []
