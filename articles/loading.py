"""Stories loaded from one row each: the story, its section, its lead photo
and its bylines, from the columns a compiled query (``newsroom.compiled``)
selects.

``story_columns()`` lists what to select; ``load_stories()`` turns the rows
back into ``Article`` instances with ``section``, ``lead_photo`` and
``ordered_bylines`` set, so that templates use them as usual and nothing is
queried lazily (a list's bylines are decoded from their row when first
read: ``LoadedBylines``). A row may end with extra columns (JSON arrays,
ids), which are handed back beside each story.

A story's own page gets the whole story; a list gets what it shows of each
(``_LISTED``), and a byline what it shows of its author (``_BYLINE_AUTHOR``).
The fields left out are deferred, as with ``only()``.
"""

import functools
import json
from collections.abc import Sequence

from django.db.models import Aggregate, Func, Subquery, TextField
from django.db.models.functions import Cast, JSONObject

from articles.models import Article, Author, Byline, Photo, Section
from newsroom.compiled import loader
from newsroom.models import instance_maker

_SECTION = Article._meta.get_field("section")
_LEAD_PHOTO = Article._meta.get_field("lead_photo")
_AUTHOR = Byline._meta.get_field("author")

# Never shown on a page: the search vector.
_NOT_SHOWN = {"search_vector"}
# What a list shows of a story (includes/article_card.html: its address,
# headline, standfirst, section, photo, bylines and date), and of its
# section. Lists load only these: every other column would be read,
# converted and sent for each of a page's dozens of rows, only to be thrown
# away. The other fields are deferred, as with ``only()``; a template that
# shows more of a listed story adds the field here.
_LISTED = frozenset(
    {
        "id",
        "headline",
        "slug",
        "dek",
        "section",
        "lead_photo",
        "publish_at",
        "first_published_at",
        "url_date",
    }
)
_SECTION_LISTED = frozenset({"id", "name", "slug"})
# What a byline shows of its author, on every page: the name, linked to the
# author's page. The author's own page loads the whole author. BylineList's
# triggers (migration articles.0011) write these three.
_BYLINE_AUTHOR = frozenset({"id", "name", "slug"})


def _fields(model, exclude=(), only=None):
    return [
        f
        for f in model._meta.concrete_fields
        if f.name not in exclude and (only is None or f.name in only)
    ]


def json_columns(model, prefix="", only=None):
    """``JSONObject`` arguments for the columns of ``model`` (via ``prefix``):
    all of them, or those of the fields named in ``only``."""
    return {f.attname: f"{prefix}{f.name}" for f in _fields(model, only=only)}


def story_columns(*, body, photo):
    """The columns ``load_stories()`` reads, for ``values_list()``.

    The bylines are the story's ``BylineList``, which PostgreSQL keeps: one
    row read by key, where building them for each story cost three
    quarters of a list's query.
    """
    return [
        *(f.name for f in _article_fields(body)),
        *(f"section__{f.name}" for f in _section_fields(body)),
        *((f"lead_photo__{f.name}" for f in _fields(Photo)) if photo else ()),
        "byline_list__json",
    ]


def json_array(queryset, key, item, order_by):
    """A correlated subquery: ``item`` (a ``JSONBuildObject``) for each row
    of ``queryset``, in ``order_by``, as the text of one JSON array, or NULL
    for no rows. ``queryset`` is filtered on the outer row by its ``key``
    column; ``decode_array()`` reads the result.

    A story's tags and corrections each come so, one text per story (its
    bylines are kept so, in ``BylineList``): as an ``ArraySubquery`` of
    ``jsonb`` objects, PostgreSQL would build each object, serialize it,
    quote and escape it into an array literal, and psycopg would parse the
    array back before each object was parsed (the front page's stories
    query took 3.9 ms against 3.4).
    """
    return Subquery(
        queryset.values(key)
        .annotate(json=JSONArrayText(item, order_by=order_by))
        .values("json")
    )


class JSONBuildObject(JSONObject):
    """``JSONObject`` as PostgreSQL's ``json_build_object()``: the object as
    text, where Django's builds ``jsonb``, which PostgreSQL then has to
    serialize again to send it."""

    def as_postgresql(self, compiler, connection, **extra_context):
        copy = self.copy()
        copy.set_source_expressions(
            [
                Cast(expression, TextField()) if index % 2 == 0 else expression
                for index, expression in enumerate(copy.get_source_expressions())
            ]
        )
        return Func.as_sql(
            copy, compiler, connection, function="JSON_BUILD_OBJECT", **extra_context
        )


class JSONArrayText(Aggregate):
    """``json_agg()`` as text: the values as one JSON array, in
    ``order_by``; NULL for no rows (see ``json_array()``)."""

    function = "JSON_AGG"
    template = "%(function)s(%(distinct)s%(expressions)s%(order_by)s)%(filter)s::text"
    allow_order_by = True
    output_field = TextField()


def _article_fields(body):
    """The whole story for its own page (``body``), what lists show otherwise."""
    if body:
        return _fields(Article, exclude=_NOT_SHOWN)
    return _fields(Article, only=_LISTED)


def _section_fields(body):
    return _fields(Section, only=None if body else _SECTION_LISTED)


def load_stories(rows, using, *, body, photo, lazy=False):
    """``(story, extra columns)`` for each row selected by ``story_columns()``.

    A story's own page (``body``) gets its bylines as a list; a list of
    stories gets them as ``LoadedBylines``, made into instances only if read,
    and each listed story keeps its row as ``loaded_row``. A listed story is
    shown as loaded: changing it does not change its card.

    With ``lazy`` (lists only), each story is a ``ListedStory``, made into
    its ``Article`` when more than its card's key is read.
    """
    article_names, section_names, photo_names = _names(body, photo)
    make_article = loader(Article, article_names, using)
    make_section = loader(Section, section_names, using)
    make_photo = loader(Photo, photo_names, using) if photo else None
    make_byline = json_loader(Byline, using)
    make_author = json_loader(Author, using, only=_BYLINE_AUTHOR)
    # A list shows a dozen sections and a few writers many times over: one
    # instance of each per list.
    sections = {}
    authors = {}

    def make_bylines(raw):
        lines = []
        for data in decode_array(raw):
            byline = make_byline(data)
            author = authors.get(byline.author_id)
            if author is None:
                author = authors[byline.author_id] = make_author(data["author"])
            _AUTHOR.set_cached_value(byline, author)
            lines.append(byline)
        return lines

    def make(row):
        columns = iter(row)
        article = make_article(_take(columns, article_names))
        values = _take(columns, section_names)
        if values[0] not in sections:
            sections[values[0]] = make_section(values)
        # As select_related() does: the related object goes straight into
        # the instance's cache (its key is already set), without the checks
        # of assigning it through the descriptor.
        _SECTION.set_cached_value(article, sections[values[0]])
        if photo:
            values = _take(columns, photo_names)
            lead_photo = None
            if values[0] is not None:
                lead_photo = make_photo(values)
                # Everything the photo can show, as loaded: what is made
                # from it is remembered by it (articles.pictures.photo_values()).
                lead_photo.loaded_values = tuple(values)
            _LEAD_PHOTO.set_cached_value(article, lead_photo)
        raw = next(columns)
        if body:
            article.ordered_bylines = make_bylines(raw)
        else:
            article.ordered_bylines = LoadedBylines(raw, make_bylines)
            # Everything the story's card can show, as loaded (and whether
            # its lead photo was): the card's markup is remembered by it
            # (newsroom.jinja2.card_key()).
            article.loaded_row = (photo, row)
        return article, list(columns)

    if not lazy:
        return [make(row) for row in rows]
    if body:
        raise ValueError("Only listed stories load lazily.")
    keys = [article_names.index(name) for name in ListedStory.KEYS]
    extra = len(article_names) + len(section_names) + len(photo_names) + 1
    return [
        (ListedStory((photo, row), [row[i] for i in keys], make), list(row[extra:]))
        for row in rows
    ]


class ListedStory:
    """A listed story as loaded, made into its ``Article`` (with
    ``load_stories()``'s ``make``) the first time anything is read of it but
    its row (``loaded_row``) and the keys lists sort and group by (``KEYS``).

    A list's cards are remembered by their stories' rows
    (``newsroom.jinja2.card_key()``): a story whose card is remembered is
    never made, which was a fifth of an uncached front page's time in
    Python (1.1 of 5.6 ms, 53 stories). Setting an attribute is refused:
    lists that set any (search results, with their snippets) load eagerly.
    """

    KEYS = ("id", "section_id", "publish_at", "lead_photo_id")
    __slots__ = ("loaded_row", *KEYS, "_make", "_article")

    def __init__(self, loaded_row, keys, make):
        self.loaded_row = loaded_row
        self.id, self.section_id, self.publish_at, self.lead_photo_id = keys
        self._make = make
        self._article = None

    @property
    def pk(self):
        return self.id

    @property
    def article(self):
        """The story as an ``Article``, made once."""
        if self._article is None:
            self._article = self._make(self.loaded_row[1])[0]
        return self._article

    def __getattr__(self, name):
        # Only for what the slots above do not hold (or, copying, not yet).
        if name in ListedStory.__slots__:
            raise AttributeError(name)
        return getattr(self.article, name)

    def __eq__(self, other):
        if isinstance(other, ListedStory):
            return self.id == other.id
        return self.article == other

    def __hash__(self):
        # As Model.__hash__(): its primary key, with nothing made for it.
        return hash(self.id)

    def __reduce__(self):
        # A story pickles (into a cache, say) as its Article.
        return _same, (self.article,)

    def __repr__(self):
        return f"<ListedStory {self.id}>"


def _same(value):
    return value


class LoadedBylines(Sequence):
    """A listed story's bylines, as loaded: their JSON array (``raw``, a
    text, or None for none), made into ``Byline`` instances with their
    authors the first time they are read.

    Lists only show a story's bylines, and the ``byline`` filter
    (``newsroom.jinja2.byline()``) shows them from ``raw``, remembered per
    process: making the instances cost the front page a fifth of its time
    (53 cards, some 75 bylines).
    """

    __slots__ = ("raw", "_make", "_lines")

    def __init__(self, raw, make):
        self.raw = raw
        self._make = make
        self._lines = None

    def _load(self):
        if self._lines is None:
            self._lines = self._make(self.raw)
        return self._lines

    def __bool__(self):
        return self.raw is not None

    def __len__(self):
        return len(self._load())

    def __getitem__(self, index):
        return self._load()[index]

    def __iter__(self):
        return iter(self._load())

    def __eq__(self, other):
        if isinstance(other, LoadedBylines):
            other = other._load()
        return self._load() == other

    __hash__ = None

    def __reduce__(self):
        # A story pickles (into a cache, say) with its bylines as a list.
        return list, (self._load(),)

    def __repr__(self):
        return f"<LoadedBylines {self.raw!r}>"


@functools.cache
def _names(body, photo):
    return (
        [f.attname for f in _article_fields(body)],
        [f.attname for f in _section_fields(body)],
        [f.attname for f in _fields(Photo)] if photo else [],
    )


def _take(columns, names):
    return [next(columns) for _ in names]


def decode_array(raw):
    """A ``json_array()`` column as a list of dicts."""
    return json.loads(raw) if raw is not None else []


def json_loader(model, using, only=None):
    """``make(data)``: a ``model`` instance from a
    ``JSONObject(**json_columns(model, only=only))``, for the objects of one
    batch (the model's way of loading is looked up once, see
    ``newsroom.compiled.loader()``). ``only`` is a frozenset, and the fields
    not in it are deferred."""
    names, parsers = _json_plan(model, only)
    make = instance_maker(model, using)

    def make_from_json(data):
        values = [data[name] for name in names]
        for index, parse in parsers:
            if values[index] is not None:
                values[index] = parse(values[index])
        return make(names, values)

    return make_from_json


@functools.cache
def _json_plan(model, only):
    # jsonb keeps its keys in its own order: they are read in the model's.
    # Numbers, text and booleans arrive as they are; dates, times and the
    # like as ISO strings, which their fields parse.
    fields = _fields(model, only=only)
    parsers = [
        (index, field.to_python)
        for index, field in enumerate(fields)
        if field.get_internal_type() not in _JSON_NATIVE
    ]
    return [field.attname for field in fields], parsers


_JSON_NATIVE = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "EmailField",
    "ForeignKey",
    "IntegerField",
    "OneToOneField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SlugField",
    "SmallIntegerField",
    "TextField",
    "URLField",
}
