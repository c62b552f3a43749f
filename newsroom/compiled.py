"""Querysets compiled to SQL once per process, then run with new values.

Building and compiling a queryset costs Python time in proportion to its
shape, not to the rows it returns: the related-stories query of a story page
(a union of per-tag candidates, ranked by three annotations) takes the ORM
about 5 ms to build and compile and PostgreSQL about 1 ms to run. A page
that asks the same question on every request can compile it once::

    from newsroom.compiled import CompiledQuery, Param

    latest_in_section = CompiledQuery(
        Article,
        lambda variant: Article.objects.published()
        .filter(section_id=Param("section", models.IntegerField()))
        .values_list("pk", "headline")[:5]
    )
    rows = latest_in_section.rows(section=section.pk)

``Param`` stands in for a value in the queryset; ``rows()`` substitutes the
values given by name. The SQL is compiled per database alias and per
``variant`` (a hashable the builder uses for what changes the shape of the
query, such as how many tags a story has). The rows are the database
driver's values, without the ORM's converters: ask for plain columns
(numbers, text, dates, times, JSON), not for fields with custom
``from_db_value``. Queries go through Django's cursor, so they are counted
and logged like any other.

Anything that must be evaluated per run has to be in SQL, not in Python:
``Article.objects.published()`` compares with the database's ``Now()``,
which is why it can be compiled once.
"""

import functools

import psycopg
from django.contrib.postgres.fields import ArrayField
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Expression,
    Func,
    IntegerField,
)
from psycopg.adapt import Dumper

from newsroom.models import instance_maker


class Param(Expression):
    """A named placeholder for a value given when a ``CompiledQuery`` runs."""

    def __init__(self, name, output_field):
        super().__init__(output_field=output_field)
        self.name = name
        self._integers = isinstance(output_field, ArrayField) and isinstance(
            output_field.base_field, IntegerField
        )

    def bind(self, value):
        """``value`` as it is sent: a list of integers as ``IdArray``."""
        if self._integers and value is not None:
            return IdArray(value)
        return value

    def __repr__(self):
        return f"Param({self.name!r})"

    def as_sql(self, compiler, connection):
        # The placeholder itself goes into the parameters, to be replaced by
        # its value on each run.
        return "%s", [self]

    def get_group_by_cols(self):
        return []


class InArray(Func):
    """``expression = ANY(array)``: an ``__in`` whose list is one value.

    With ``Param`` as the array, the SQL is the same however long the list
    is: ``.exclude(InArray(F("pk"), Param("seen", ArrayField(IntegerField()))))``.
    """

    arity = 2
    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


class IdArray(list):
    """Integers sent to PostgreSQL as one ``bigint[]``.

    psycopg's own dumper for a list looks at every element to choose the
    array's type: 110 µs for the 48 ids of the front page's stories,
    against 20 for this one, which writes the array literal directly.
    """


class _IdArrayDumper(Dumper):
    oid = psycopg.postgres.types["int8"].array_oid

    def dump(self, obj):
        # Formatted as integers: a value that is not one fails here, not as SQL.
        return ("{" + ",".join([f"{value:d}" for value in obj]) + "}").encode()


# Django copies psycopg's adapters when it first connects: this module is
# imported with the models (articles.models), before any connection.
psycopg.adapters.register_dumper(IdArray, _IdArrayDumper)

# psycopg turns a query's "%s" into "$1", "$2"... on every run, and remembers
# the result (in a cache of 128 queries) only for queries of up to 4,096
# bytes, so that INSERTs of any number of rows do not fill it. The story
# page's query, with its related stories, is 5 KB: converting it again cost
# each page 0.26 M instructions, 4% of it (bench/instructions.py). The
# compiled queries are a fixed set, each under 16 KB. The limit is a constant
# of a private module: a psycopg without it keeps its own (and
# tests/newsroom/test_compiled.py says so).
try:
    from psycopg import _queries
except ImportError:  # a psycopg without it: its own limit stays
    _queries = None
if hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH"):
    _queries.MAX_CACHED_STATEMENT_LENGTH = max(
        _queries.MAX_CACHED_STATEMENT_LENGTH, 16 * 1024
    )


class CompiledQuery:
    """A queryset of ``model`` built by ``build(variant)``, compiled once per
    database alias and variant.

    It runs as a prepared statement (see ``_prepared_cursor()``), planned
    once whatever its values, unless ``prepare=False``: for a query whose
    best plan depends on its values (a search for a common word and one for
    a rare word), which PostgreSQL then plans on each run.

    With ``paged=True`` the queryset is built unsliced and the SQL ends with
    ``LIMIT %s OFFSET %s``, given to ``rows()`` as ``limit`` and ``offset``:
    one statement for every page of a list.
    """

    def __init__(self, model, build, *, prepare=True, paged=False):
        self.model = model
        self._build = build
        self._prepare = prepare
        # The ORM writes a slice's bounds into the SQL: one statement (and
        # one prepared statement) per page.
        self._paged = paged
        self._compiled = {}

    def rows(self, variant=None, **values):
        """The rows, as tuples, for ``values`` given by ``Param`` name."""
        alias = self.using()
        sql, params = self.sql(variant, using=alias)
        try:
            bound = [
                param.bind(values[param.name]) if isinstance(param, Param) else param
                for param in params
            ]
        except KeyError as error:
            raise TypeError(f"No value given for {error.args[0]!r}.") from None
        connection = connections[alias]
        if not self._prepare:
            with connection.cursor() as cursor:
                cursor.execute(sql, bound)
                return cursor.fetchall()
        # Not closed: the cursor is kept for the next run (_prepared_cursor()).
        cursor = _prepared_cursor(connection)
        cursor.execute(sql, bound)
        return cursor.fetchall()

    def using(self):
        """The database the next run reads from (the routers decide)."""
        return router.db_for_read(self.model)

    def sql(self, variant=None, using=DEFAULT_DB_ALIAS):
        """The SQL and its parameters, ``Param`` placeholders included."""
        key = (using, variant)
        compiled = self._compiled.get(key)
        if compiled is None:
            query = self._build(variant).query
            sql, params = query.get_compiler(using=using).as_sql()
            if self._paged:
                if query.is_sliced:
                    raise ValueError("A paged query is sliced by rows(), not built so.")
                sql += " LIMIT %s OFFSET %s"
                params = (*params, _LIMIT, _OFFSET)
            # Two threads may compile the same query at once; both get the
            # same SQL, so the second simply replaces the first.
            compiled = self._compiled[key] = (sql, tuple(params))
        return compiled


_LIMIT = Param("limit", BigIntegerField())
_OFFSET = Param("offset", BigIntegerField())


def _prepared_cursor(connection):
    """A cursor whose statements PostgreSQL plans once per connection.

    Django's own cursors bind parameters on the client, so every query is
    parsed and planned again; planning the story page's query costs
    PostgreSQL more than running it. A compiled query is the same SQL every
    time: it runs as a server-side prepared statement (psycopg's
    ``prepare=True``), wrapped like any Django cursor so that it is counted,
    logged and its errors translated. With ``prepare_threshold`` unset in the
    database OPTIONS (``DATABASE_PREPARED_STATEMENTS=false``, as PgBouncer in
    transaction mode needs) psycopg runs it unprepared.
    """
    # As Django's own cursors do: with CONN_HEALTH_CHECKS, a persistent
    # connection is checked once per request before its first use, so that
    # one broken by a database restart is replaced rather than failing.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = _kept_cursor(connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def _kept_cursor(connection):
    """The psycopg cursor kept for ``connection``'s current session.

    A psycopg cursor finds the dumpers of its parameters and the loaders of
    its result's columns once, and a new cursor does so afresh: a quarter of
    a short compiled query's CPU (in-process, 136-142 µs per run of a
    section's newest stories with a new cursor each time, 105 with one
    kept). Django's connection objects belong to one thread, and so does the
    cursor kept on one. It is used only with the session it was made for,
    while that is the connection's: after a reconnect, or with another
    pooled session, a new one is made.
    """
    session = connection.connection
    cursor = getattr(connection, "_newsroom_kept_cursor", None)
    if cursor is None or cursor.closed or cursor.connection is not session:
        cursor = connection._newsroom_kept_cursor = _PreparingCursor(session)
    return cursor


class _PreparingCursor(ServerBindingCursor):
    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def loader(model, field_names, using):
    """``make(values)``: a ``model`` instance from a compiled query's
    columns, for the rows of one batch.

    ``field_names`` are attnames in the model's field order (what
    ``Model.from_db()`` expects); the fields' own database converters are
    applied first, as the ORM would (a ``JSONField`` arrives as text). The
    converters and the model's way of loading (``instance_maker()``) are
    looked up once for the batch.
    """
    make = instance_maker(model, using)
    converters = _converters(model, tuple(field_names), using)
    if not converters:
        return functools.partial(make, field_names)
    connection = connections[using]

    def make_converted(values):
        values = list(values)
        for index, field, convert in converters:
            if values[index] is not None:
                values[index] = convert(values[index], field, connection)
        return make(field_names, values)

    return make_converted


@functools.cache
def _converters(model, field_names, using):
    # Most fields have none: a story list loads hundreds of rows, so the
    # fields that do are found once per model, columns and database.
    found = []
    for index, name in enumerate(field_names):
        field = model._meta.get_field(name)  # a name or an attname
        for convert in field.get_db_converters(connections[using]):
            found.append((index, field, convert))
    return tuple(found)
