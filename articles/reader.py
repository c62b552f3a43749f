"""Queries behind the reader's pages, each a fixed number of SQL queries.

Everything starts from ``Article.objects.published()``.
"""

import datetime
import functools
import hashlib
import html
from array import array

from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.search import (
    SearchConfig,
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVectorField,
)
from django.core.cache import cache
from django.core.paginator import EmptyPage, InvalidPage, Paginator
from django.db.models import (
    Case,
    DateField,
    DateTimeField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    SlugField,
    Subquery,
    TextField,
    Value,
    When,
    Window,
)
from django.db.models.expressions import Col
from django.db.models.functions import (
    Coalesce,
    Greatest,
    Mod,
    RowNumber,
    Substr,
)
from django.http import Http404
from django.utils.html import escape
from django.utils.safestring import mark_safe
from taggit.models import Tag, TaggedItem

from articles import loading
from articles.caching import PAGE_TTL, content_version, for_content_version
from articles.models import SEARCH_CONFIG, Article, Correction, Section
from newsroom.compiled import CompiledQuery, InArray, Param, loader

PER_PAGE = 20
# Search results per page: ten, as on the search pages readers know (web
# search engines, WordPress, Wagtail's project template). A result is taller
# than an archive's card (it has a snippet) and is read for its snippet;
# each snippet costs the database more than the rest of its card.
SEARCH_PER_PAGE = 10
LATEST_PER_SECTION = 4
HOME_SECTIONS = 12  # section rails on the front page, in navigation order
RELATED_COUNT = 6
MORE_COUNT = 5
RELATED_TAG_CANDIDATES = 60
MAX_PAGE = 100_000
# Beyond this page an archive starts its page from the page boundaries
# (``page_start()``) instead of walking the index to an OFFSET: up to here
# the walk is shorter than a thousand index entries.
DEEP_PAGE = 50
MAX_QUERY_LENGTH = 200
# Ranking every match of a common word in a large archive is slow and
# pointless: the newest matches are ranked, and readers page through those.
SEARCH_CANDIDATES = 500
# A snippet is cut from this much of a story, starting a little before the
# first mention of a searched word (see _snippet_source()). ts_headline
# costs in proportion to the text it parses (about 60% of a search's
# database time at 1,000 characters); 600 hold the two fragments of up to
# 35 words a snippet shows when the second mention follows within a
# paragraph or two, and the first one always.
SNIPPET_SOURCE_CHARS = 600
SNIPPET_LEAD_CHARS = 120
_MARK_START, _MARK_STOP = "\x02", "\x03"
_IDS = ArrayField(IntegerField())


def front_page():
    """The lead story, the featured stories and the latest per section.

    Three queries, compiled once per process: the featured stories, the
    sections with the ids of their latest stories, and those stories.
    """
    featured = cards("featured")
    names = [f.attname for f in Section._meta.concrete_fields]
    make_section = loader(Section, names, _FRONT_SECTIONS.using())
    sections = []
    for *values, latest_ids in _FRONT_SECTIONS.rows(featured=[a.pk for a in featured]):
        sections.append((make_section(values), latest_ids))
    by_section = {section.pk: [] for section, _ in sections}
    ids = [pk for _, latest_ids in sections for pk in latest_ids]
    for article in sorted(cards("by-id", ids=ids), key=_newest_first):
        by_section[article.section_id].append(article)
    return {
        "lead": featured[0] if featured else None,
        "featured": featured[1:],
        "sections": [(s, by_section[s.pk]) for s, _ in sections if by_section[s.pk]],
    }


def _newest_first(article):
    return (-article.publish_at.timestamp(), -article.pk)


def _front_sections_query(variant):
    # The sections with the ids of their latest stories, in one query: a
    # correlated subquery per section is one short index walk each, rather
    # than ranking every published story.
    latest_ids = (
        Article.objects.published()
        .filter(section_id=OuterRef("pk"))
        .exclude(InArray(F("pk"), Param("featured", _IDS)))
        .order_by("-publish_at")
        .values("pk")[:LATEST_PER_SECTION]
    )
    return Section.objects.values_list(
        *(f.name for f in Section._meta.concrete_fields), ArraySubquery(latest_ids)
    )[:HOME_SECTIONS]


def cards(variant, **values):
    """Stories as lists show them (no body), with sections and bylines, as
    ``loading.ListedStory``: each made into its ``Article`` only if more
    than its card's key is read (a remembered card reads nothing more).

    ``"featured"``: the newest featured stories, with their lead photos;
    ``"by-id"``: the stories with the primary keys ``ids``, without photos
    (archives and section rails show none), in no particular order;
    ``"search"``: as ``"by-id"``, each row ending with the story's snippet
    for the search ``terms`` (see ``search()``).
    """
    photo = variant == "featured"
    rows = _CARDS.rows(variant, **values)
    loaded = loading.load_stories(
        rows, _CARDS.using(), body=False, photo=photo, lazy=True
    )
    return [story for story, _ in loaded]


def _cards_query(variant):
    columns = loading.story_columns(body=False, photo=variant == "featured")
    if variant == "featured":
        return (
            Article.objects.published().filter(is_featured=True).values_list(*columns)
        )[:5]
    stories = Article.objects.filter(InArray(F("pk"), Param("ids", _IDS)))
    if variant == "search":
        # The page of search results, each with its snippet.
        return stories.values_list(*columns, _snippet())
    return stories.values_list(*columns)


def story(url_date, slug):
    """The published story at an address, with all its page shows, or None.

    One query, compiled once per process: the story with its section, lead
    photo and bylines (see ``articles.loading``), and its corrections and
    tags as JSON arrays (in ``correction_list`` and ``tag_list``).
    """
    return _load_story(
        _STORY.rows("address", url_date=url_date, slug=slug, content_type=_tagged())
    )


def story_preview(pk):
    """A story by primary key, published or not, loaded as ``story()`` does."""
    return _load_story(_STORY.rows("preview", pk=pk, content_type=_tagged()))


def _tagged():
    """The content type taggit files stories' tags under (cached by Django)."""
    return ContentType.objects.get_for_model(Article).pk


def _story_query(variant):
    if variant == "preview":
        stories = Article.objects.filter(pk=Param("pk", IntegerField()))
    else:
        stories = Article.objects.published().filter(
            url_date=Param("url_date", DateField()),
            slug=Param("slug", SlugField()),
        )
    corrections = loading.json_array(
        Correction.objects.filter(article_id=OuterRef("pk")),
        "article_id",
        loading.JSONBuildObject(**loading.json_columns(Correction)),
        order_by=("date", "pk"),
    )
    tags = loading.json_array(
        TaggedItem.objects.filter(
            content_type_id=Param("content_type", IntegerField()),
            object_id=OuterRef("pk"),
        ),
        "object_id",
        loading.JSONBuildObject(**loading.json_columns(Tag, "tag__")),
        order_by=("tag__name",),
    )
    return stories.values_list(
        *loading.story_columns(body=True, photo=True),
        corrections,
        tags,
        _related_json(),
    )


_STORY = CompiledQuery(Article, _story_query)
_CARDS = CompiledQuery(Article, _cards_query)
_FRONT_SECTIONS = CompiledQuery(Section, _front_sections_query)


def _load_story(rows):
    using = _STORY.using()
    for article, (corrections, tags, related) in loading.load_stories(
        rows, using, body=True, photo=True
    ):
        make_correction = loading.json_loader(Correction, using)
        make_tag = loading.json_loader(Tag, using)
        article.correction_list = [
            make_correction(data) for data in loading.decode_array(corrections)
        ]
        article.tag_list = [make_tag(data) for data in loading.decode_array(tags)]
        article.loaded_related = related
        return article
    return None


def rails(article):
    """The two rails under a story: (related stories, more from its section).

    Related: editor's picks first, then stories sharing tags, then the
    section (``_related_json()``). A story loaded by ``story()`` or
    ``story_preview()`` comes with them, from the same query; for any other
    story they take a query of their own.

    More from the section: its newest stories, but for the story and those
    already related. The rails show a link, a headline and the section's
    name: the stories carry only those (``section_name`` instead of
    ``section``).
    """
    if hasattr(article, "loaded_related"):
        raw = article.loaded_related
    else:
        rows = _RELATED.rows(pk=article.pk, content_type=_tagged())
        raw = rows[0][0] if rows else None
    make = loader(Article, _RAIL_FIELDS, _STORY.using())
    related = [_rail_story(_rail_row(data), make) for data in loading.decode_array(raw)]
    shown = {story.pk for story in related}
    shown.add(article.pk)
    newest = section_newest(article.section_id)
    more = [row for row in newest if row[0] not in shown][:MORE_COUNT]
    make = loader(Article, _RAIL_FIELDS, _SECTION_NEWEST.using())
    return related, [_rail_story(row, make) for row in more]


def related_stories(article):
    """The related-stories rail of ``rails()``."""
    return rails(article)[0]


def section_newest(section_id):
    """The section's newest published stories as rail rows (``_RAIL_FIELDS``
    and the section's name), enough for ``rails()`` whatever it leaves out.

    Remembered by the process for the content version, which any change to
    a story, and a scheduled story going live, moves on (see
    ``articles.caching.for_content_version()``).
    """
    return for_content_version(
        ("section-newest", section_id),
        lambda: tuple(_SECTION_NEWEST.rows(section=section_id)),
    )


def _section_newest_query(variant):
    # The story itself and its related stories may be among them.
    return (
        Article.objects.published()
        .filter(section_id=Param("section", IntegerField()))
        .annotate(section_name=Subquery(_section_name()))
        .order_by("-publish_at", "-pk")
        .values_list(*_RAIL_FIELDS, "section_name")[: 1 + RELATED_COUNT + MORE_COUNT]
    )


def _section_name():
    # A subquery, not a join: PostgreSQL looks the name up for the rows the
    # LIMIT keeps, not for every candidate.
    return Section.objects.filter(pk=OuterRef("section_id")).order_by().values("name")


def _related_json():
    """The related stories of the story in the outer query's row, best
    first, as the text of one JSON array of rail rows (``_rail_row()``), or
    NULL for none: a column of the story's own query, so that a story page
    waits for the database once.

    Candidates are the editor's picks, the newest stories carrying each of
    the story's tags (``TagNeighbours``) and the newest of its section: a
    few hundred rows at most, however large the archive, found by one index
    walk each and looked up by primary key. They are ranked by picked,
    shared tags, same section, recency.
    """
    story = OuterRef("pk")
    content_type = Param("content_type", IntegerField())
    picks = Article.related.through.objects.filter(from_article_id=OuterRef(story))
    picked_ids = ArraySubquery(picks.values("to_article_id"))
    newest_in_section = ArraySubquery(
        Article.objects.published()
        .filter(section_id=OuterRef(OuterRef("section_id")))
        .order_by("-publish_at", "-pk")
        .values("pk")[: RELATED_COUNT + 1]
    )
    # One "= ANY" of an array: the stories are looked up by primary key. An
    # OR of INs would make PostgreSQL read every story.
    candidates = ArrayCat(
        ArrayCat(
            picked_ids,
            TagNeighbours(
                TagIds(story),
                content_type,
                total=RELATED_TAG_CANDIDATES,
                least=RELATED_COUNT,
            ),
        ),
        newest_in_section,
    )
    ranked = (
        Article.objects.published()
        .exclude(pk=story)
        .filter(InArray(F("pk"), candidates))
        .annotate(
            section_name=Subquery(_section_name()),
            picked=Exists(picks.filter(to_article_id=OuterRef("pk"))),
            shared=SharedCount(TagIds(F("pk")), TagIds(OuterRef("pk"))),
            same=Case(
                When(section_id=OuterRef("section_id"), then=1),
                default=0,
                output_field=IntegerField(),
            ),
        )
        .order_by(*_RELATED_ORDER)
        .values(*_RAIL_FIELDS, "section_name", "picked", "shared", "same")[
            :RELATED_COUNT
        ]
    )
    return JSONRows(ranked, order_by=_RELATED_ORDER)


_RELATED_ORDER = ("-picked", "-shared", "-same", "-publish_at", "-id")


def _related_query(variant):
    # For a story not loaded by story(): its related stories alone.
    return (
        Article.objects.filter(pk=Param("pk", IntegerField()))
        .order_by()
        .values_list(_related_json())
    )


class ArrayCat(Func):
    function = "ARRAY_CAT"
    arity = 2
    output_field = _IDS


class TagIds(Func):
    """The sorted ids of the tags of the story whose primary key is the
    column ``story`` (``F("pk")``, ``OuterRef("pk")``), from its own row.

    PostgreSQL keeps them in the column ``tag_ids`` of the stories' table
    (migration ``0012``), which is not a model field: Django, knowing
    nothing of it, cannot write back a stale copy.
    """

    arity = 1
    output_field = _IDS

    def as_sql(self, compiler, connection, **extra_context):
        column = self.source_expressions[0]
        if not isinstance(column, Col) or column.target.model is not Article:
            raise ValueError(f"TagIds() needs a story's primary key, not {column!r}.")
        qualified = (column.alias, "tag_ids") if column.alias else ("tag_ids",)
        return ".".join(map(compiler.quote_name, qualified)), []


class SharedCount(Func):
    """The number of ids two sorted arrays of ``TagIds`` have in common
    (intarray's ``icount(a & b)``)."""

    template = "icount(%(expressions)s)"
    arg_joiner = " & "
    arity = 2
    output_field = IntegerField()


class TagNeighbours(Func):
    """For each tag in ``tag_ids`` (a story's ``TagIds``), the ``total`` /
    (the story's number of tags) newest stories carrying it, at least
    ``least`` (the story itself among them), as one array.

    Per tag, so that a tag on thousands of stories cannot crowd out a rare
    one (the rare tag is the better signal). A ``LATERAL`` walk of the
    (tag, content type, newest object) index per tag, which the ORM cannot
    write.
    """

    output_field = _IDS

    def __init__(self, tag_ids, content_type, *, total, least):
        super().__init__(tag_ids, content_type)
        self.total, self.least = total, least

    def as_sql(self, compiler, connection, **extra_context):
        tag_ids, tag_ids_params = compiler.compile(self.source_expressions[0])
        content_type, content_type_params = compiler.compile(self.source_expressions[1])
        quote = connection.ops.quote_name
        table = quote(TaggedItem._meta.db_table)
        tag, kind, item = (
            quote(TaggedItem._meta.get_field(name).column)
            for name in ("tag", "content_type", "object_id")
        )
        # Names quoted from the models' metadata; every value is a parameter.
        sql = (
            f"ARRAY(SELECT walk.{item} FROM UNNEST({tag_ids}) own(tag)"  # noqa: S608
            " CROSS JOIN LATERAL ("
            f"SELECT tagged.{item} FROM {table} tagged"
            f" WHERE tagged.{tag} = own.tag AND tagged.{kind} = {content_type}"
            f" ORDER BY tagged.{item} DESC"
            f" LIMIT GREATEST(%s, %s / GREATEST(1, CARDINALITY({tag_ids})))"
            f") walk)"
        )
        params = [
            *tag_ids_params,
            *content_type_params,
            self.least,
            self.total,
            *tag_ids_params,
        ]
        return sql, params


class JSONRows(Subquery):
    """The rows of ``queryset`` (a ``values()``) as the text of one JSON
    array of objects, in ``order_by`` (names of its columns, ``-`` for
    descending), or NULL for no rows."""

    template = (
        "(SELECT JSON_AGG(rail ORDER BY %(order)s)::text FROM (%(subquery)s) rail)"
    )

    def __init__(self, queryset, order_by):
        order = ", ".join(
            f"rail.{name[1:]} DESC" if name.startswith("-") else f"rail.{name}"
            for name in order_by
        )
        super().__init__(queryset, output_field=TextField(), order=order)


def _rail_row(data):
    """A rail row (``_RAIL_FIELDS`` and the section's name) from its JSON."""
    return (
        data["id"],
        data["headline"],
        data["slug"],
        data["section_id"],
        datetime.datetime.fromisoformat(data["publish_at"]),
        datetime.date.fromisoformat(data["url_date"]),
        data["section_name"],
    )


# What a rail shows: few columns, loaded without the ORM's query building
# (compiled once per process, see newsroom.compiled). In the model's order,
# as Model.from_db() expects.
_RAIL_FIELDS = ("id", "headline", "slug", "section_id", "publish_at", "url_date")
_RELATED = CompiledQuery(Article, _related_query)
_SECTION_NEWEST = CompiledQuery(Article, _section_newest_query)


def _rail_story(row, make):
    story = make(row[: len(_RAIL_FIELDS)])
    story.section_name = row[len(_RAIL_FIELDS)]
    return story


def by_slug(model, slug, related=None):
    """``get_object_or_404(model, slug=slug)``, with the object of the
    foreign key ``related`` (a field name) loaded along, as
    ``select_related()`` would: what an archive is the archive of.

    Compiled once per process and model (building the query with the ORM
    was a fifth of a section page).
    """
    query = _BY_SLUG.get((model, related))
    if query is None:
        build = functools.partial(_by_slug_query, model, related)
        # Two threads may make it at once: the second one's replaces the first.
        query = _BY_SLUG[model, related] = CompiledQuery(model, build)
    names, related_names = _by_slug_names(model, related)
    using = query.using()
    for row in query.rows(slug=slug):
        instance = loader(model, names, using)(row[: len(names)])
        if related:
            field = model._meta.get_field(related)
            values = row[len(names) :]
            target = None
            if values[0] is not None:
                target = loader(field.related_model, related_names, using)(values)
            field.set_cached_value(instance, target)
        return instance
    raise Http404(f"No {model._meta.verbose_name} at this address.")


def _by_slug_query(model, related, variant):
    names, related_names = _by_slug_names(model, related)
    columns = [*names, *(f"{related}__{name}" for name in related_names)]
    return model._default_manager.filter(slug=Param("slug", TextField())).values_list(
        *columns
    )


@functools.cache
def _by_slug_names(model, related):
    names = tuple(f.attname for f in model._meta.concrete_fields)
    if not related:
        return names, ()
    target = model._meta.get_field(related).related_model
    return names, tuple(f.attname for f in target._meta.concrete_fields)


_BY_SLUG = {}


def archive(kind, pk, content_type=None):
    """The stories of an archive: of the section, the tag or the author
    (``kind``) whose key is ``pk``. ``content_type``: taggit's content type
    for stories (looked up when not given)."""
    stories = Article.objects.published()
    match kind:
        case "section":
            return stories.filter(section_id=pk)
        case "tag":
            return stories.tagged(pk, content_type=content_type)
        case "author":
            return stories.by_author(pk)
    raise ValueError(f"No archive of {kind!r}.")


def paginate(request, kind, pk, per_page=PER_PAGE):
    """A page of the archive ``archive(kind, pk)`` (newest first) from
    ``?page=``; junk or past the end is a 404.

    No ``COUNT(*)``: the page fetches one id more than it shows to know
    whether there is a next page. The page's rows are found by primary key
    first (a walk of the index the archive is ordered by), and only those
    rows are then loaded with what the listing needs. Up to ``DEEP_PAGE``
    the walk starts at the newest story and skips to its offset; a deeper
    page starts at its first story, found by ``page_start()``, so that
    page 1,000 costs what page 1 does. Both walks are compiled once per
    process (building them with the ORM was a fifth of an archive page).
    """
    raw = request.GET.get("page") or "1"
    # isdigit() alone accepts digits int() refuses, such as "²".
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise Http404("No such page.")
    number = int(raw)
    if number > DEEP_PAGE:
        start = page_start(kind, pk, number, per_page)
        if start is None:
            raise Http404("No such page.")
        publish_at, first_pk = start
        walked = _ARCHIVE_IDS.rows(
            (kind, "deep"),
            archive=pk,
            content_type=_tagged(),
            publish_at=publish_at,
            first=first_pk,
            limit=per_page + 1,
            offset=0,
        )
    else:
        walked = _ARCHIVE_IDS.rows(
            (kind, "newest"),
            archive=pk,
            content_type=_tagged(),
            limit=per_page + 1,
            offset=(number - 1) * per_page,
        )
    ids = [story for (story,) in walked]
    if not ids and number > 1:
        raise Http404("No such page.")
    has_next, ids = len(ids) > per_page, ids[:per_page]
    rows = {a.pk: a for a in cards("by-id", ids=ids)}
    return ArchivePage(number, [rows[pk] for pk in ids if pk in rows], has_next)


def _archive_ids_query(variant):
    kind, start = variant
    # The content type too is a value: a test database made afresh gives it
    # another key.
    stories = archive(
        kind,
        Param("archive", IntegerField()),
        Param("content_type", IntegerField()),
    )
    if start == "deep":
        # (publish_at, pk) <= the page's first story, in the archive's order.
        publish_at = Param("publish_at", DateTimeField())
        stories = stories.filter(publish_at__lte=publish_at).exclude(
            publish_at=publish_at, pk__gt=Param("first", IntegerField())
        )
    return stories.order_by("-publish_at", "-pk").values_list("pk")


# Not prepared: how PostgreSQL best walks a tag's or a writer's stories
# depends on how many there are (see ArticleQuerySet.tagged()), so each run
# is planned for its values, as the ORM's queries are.
_ARCHIVE_IDS = CompiledQuery(Article, _archive_ids_query, prepare=False, paged=True)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def page_start(kind, pk, number, per_page):
    """``(publish_at, pk)`` of the first story on page ``number`` of the
    archive ``archive(kind, pk)`` (newest first), or None past its end.

    One walk of the archive's index numbers its stories and keeps every
    ``per_page``-th. They are kept in the cache for the current content
    version (any change readers can see makes a new one), so every deep page
    of the archive, for every reader, is found from that one walk until the
    next change. Stored as one array of integers: a section of 24,000
    stories has 1,200 pages, 19 KB.
    """
    # The archive's SQL names the walk, so that a deployment that changes
    # it does not read boundaries another version of the code stored.
    sql, _ = _ARCHIVE_IDS.sql((kind, "newest"), using=_ARCHIVE_IDS.using())
    digest = hashlib.sha256(repr((sql, kind, pk, per_page)).encode()).hexdigest()
    key = f"page-starts:{content_version()}:{digest}"
    packed = cache.get(key)
    if packed is None:
        numbered = (
            archive(kind, pk)
            .order_by("-publish_at", "-pk")
            .annotate(
                row=Window(
                    RowNumber(), order_by=(F("publish_at").desc(), F("pk").desc())
                )
            )
            .annotate(place=Mod(F("row"), Value(per_page), output_field=IntegerField()))
            .filter(place=1 % per_page)
            .values_list("publish_at", "pk")
        )
        flat = array("q")
        for publish_at, story in numbered:
            flat.extend(((publish_at - _EPOCH) // _MICROSECOND, story))
        packed = flat.tobytes()
        cache.set(key, packed, PAGE_TTL)
    flat = array("q")
    flat.frombytes(packed)
    if 2 * number > len(flat):
        return None
    return _EPOCH + flat[2 * number - 2] * _MICROSECOND, flat[2 * number - 1]


class ArchivePage:
    """The slice of a Django ``Page`` the archive templates use."""

    def __init__(self, number, object_list, has_next):
        self.number = number
        self.object_list = object_list
        self._has_next = has_next

    def __iter__(self):
        return iter(self.object_list)

    def has_next(self):
        return self._has_next

    def has_previous(self):
        return self.number > 1

    def has_other_pages(self):
        return self.has_next() or self.has_previous()

    def next_page_number(self):
        return self.number + 1

    def previous_page_number(self):
        return self.number - 1


def search(request, terms):
    """Full-text search, ranked, with highlighted snippets; one page of it.

    Two queries, compiled once per process: the newest ``SEARCH_CANDIDATES``
    matches with their ranks (ordered here, and paged without a COUNT), and
    the page's stories with their snippets.
    """
    # Best rank first; equal ranks stay newest first, as the query returns
    # them (Python's sort is stable, reversed too).
    matches = sorted(_SEARCH.rows(terms=terms), key=_rank, reverse=True)
    ranked = [pk for pk, _ in matches]
    try:
        page = Paginator(ranked, SEARCH_PER_PAGE).page(request.GET.get("page") or 1)
    except (InvalidPage, EmptyPage):
        raise Http404("No such page.") from None
    ids = list(page.object_list)
    rows = _CARDS.rows("search", ids=ids, terms=terms)
    listed = {}
    for article, (snippet,) in loading.load_stories(
        rows, _CARDS.using(), body=False, photo=False
    ):
        article.snippet = highlight(snippet or "")
        listed[article.pk] = article
    page.object_list = [listed[pk] for pk in ids]
    return page


def _search_query(variant):
    # Its best plan depends on the words (walk the newest stories for a
    # common word, the search index for a rare one), so it is planned for
    # each search: compiled, but not prepared.
    query = _search_terms()
    return (
        Article.objects.published()
        .filter(search_vector=query)
        .order_by("-publish_at", "-pk")
        .values_list("pk", SearchRank(F("search_vector"), query))[:SEARCH_CANDIDATES]
    )


def _rank(row):
    return row[1]


_SEARCH = CompiledQuery(Article, _search_query, prepare=False)


def _search_terms():
    return SearchQuery(
        Param("terms", TextField()), search_type="websearch", config=SEARCH_CONFIG
    )


def _snippet():
    return SearchHeadline(
        _snippet_source(),
        _search_terms(),
        config=SEARCH_CONFIG,
        start_sel=_MARK_START,
        stop_sel=_MARK_STOP,
        max_words=35,
        min_words=15,
        max_fragments=2,
    )


def _snippet_source():
    """The text a snippet is cut from: ``SNIPPET_SOURCE_CHARS`` of the body
    from a little before the first mention of a searched word (the opening,
    if none is mentioned), tags removed.

    ``ts_headline`` costs in proportion to the text it reads: over whole
    stories it would cost more than the rest of the page. Finding the first
    mention is a plain substring search of the lowercased body for each
    searched word's stem ("council" for "councils"), which costs next to
    nothing. Tags cut in half at either end of the window are removed too.
    """
    mention = FirstMention(F("body"), Param("terms", TextField()))
    start = Greatest(Coalesce(mention - SNIPPET_LEAD_CHARS, 1), 1)
    window = Substr(F("body"), start, SNIPPET_SOURCE_CHARS)
    return _replace(_replace(window, "^[^<]*>", ""), "<[^>]*(>|$)", " ", "g")


def _replace(text, pattern, replacement, flags=""):
    return Func(
        text,
        Value(pattern),
        Value(replacement),
        Value(flags),
        function="regexp_replace",
        output_field=TextField(),
    )


class FirstMention(Func):
    """Where in ``text`` (1-based) the stem of one of the words of ``terms``
    first appears, lowercase; NULL if none does.

    For a stem written in ASCII (most searches of an English newsroom) the
    text is lowercased as ASCII only (``COLLATE "C"``), which finds the same
    places: ``lower()`` by the database's locale handles every alphabet and
    costs about 25 µs more for each of a results page's snippets. A stem
    with other letters ("ärzte") gets the locale's. (Only the Kelvin sign
    and the dotted capital I, whose lowercase is ASCII, are missed.)
    """

    template = (
        "(SELECT min(NULLIF(strpos(CASE WHEN octet_length(stem) = length(stem)"
        ' THEN lower(%(text)s COLLATE "C") ELSE lower(%(text)s) END, stem), 0))'
        " FROM unnest(tsvector_to_array(%(stems)s)) AS stem)"
    )
    output_field = IntegerField()

    def __init__(self, text, terms):
        stems = Func(
            SearchConfig(SEARCH_CONFIG),
            terms,
            function="to_tsvector",
            output_field=SearchVectorField(),
        )
        super().__init__(text, stems)

    def as_sql(self, compiler, connection):
        (text, text_params), (stems, stems_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        # The text appears twice in the template (one branch runs).
        return self.template % {"text": text, "stems": stems}, (
            *text_params,
            *text_params,
            *stems_params,
        )


def highlight(snippet):
    """Escape a snippet and turn the search markers into ``<mark>``."""
    # Tags were replaced by spaces: runs of them are collapsed.
    text = escape(" ".join(html.unescape(snippet).split()))
    return mark_safe(  # noqa: S308 - escaped above; only our markers become tags
        text.replace(_MARK_START, "<mark>").replace(_MARK_STOP, "</mark>")
    )
