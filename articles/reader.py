"""Queries behind the reader's pages, each a fixed number of SQL queries.

Everything starts from ``Article.objects.published()``.
"""

import html

from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.core.paginator import EmptyPage, InvalidPage, Paginator
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Left
from django.http import Http404
from django.utils.html import escape
from django.utils.safestring import mark_safe
from taggit.models import TaggedItem

from articles.models import SEARCH_CONFIG, Article, Section

PER_PAGE = 20
LATEST_PER_SECTION = 4
HOME_SECTIONS = 12  # section rails on the front page, in navigation order
RELATED_COUNT = 6
RELATED_TAG_CANDIDATES = 60
MAX_PAGE = 100_000
MAX_QUERY_LENGTH = 200
# Ranking every match of a common word in a large archive is slow and
# pointless: the newest matches are ranked, and readers page through those.
SEARCH_CANDIDATES = 500
SNIPPET_SOURCE_CHARS = 3000
_MARK_START, _MARK_STOP = "\x02", "\x03"


def front_page():
    """The lead story, the featured stories and the latest per section."""
    featured = list(
        Article.objects.published().filter(is_featured=True).for_listing()[:5]
    )
    featured_ids = [a.pk for a in featured]
    # The sections with the ids of their latest stories, in one query: a
    # correlated subquery per section is one short index walk each, rather
    # than ranking every published story.
    latest_ids = (
        Article.objects.published()
        .filter(section_id=OuterRef("pk"))
        .exclude(pk__in=featured_ids)
        .order_by("-publish_at")
        .values("pk")[:LATEST_PER_SECTION]
    )
    sections = list(
        Section.objects.annotate(latest_ids=ArraySubquery(latest_ids))[:HOME_SECTIONS]
    )
    by_section = {section.pk: [] for section in sections}
    ids = [pk for section in sections for pk in section.latest_ids]
    if ids:
        rows = (
            Article.objects.filter(pk__in=ids)
            .for_listing(photos=False)  # the section rails show no photos
            .order_by("-publish_at")
        )
        for article in rows:
            by_section[article.section_id].append(article)
    return {
        "lead": featured[0] if featured else None,
        "featured": featured[1:],
        "sections": [(s, by_section[s.pk]) for s in sections if by_section[s.pk]],
    }


def related_stories(article):
    """Editor's picks first, then stories sharing tags, then the section.

    Candidates are the picks, the newest stories carrying each of the story's
    tags and the newest of its section: a few hundred rows at most, however
    large the archive, found by one index walk each and joined to the stories
    by primary key. They are ranked by picked, shared tags, same section,
    recency.
    """
    content_type = ContentType.objects.get_for_model(Article)
    tag_ids = [tag.pk for tag in article.tags.all()]  # prefetched
    picked_ids = Article.related.through.objects.filter(
        from_article_id=article.pk
    ).values("to_article_id")
    # Per tag, so that a tag on thousands of stories cannot crowd out a rare
    # one (the rare tag is the better signal).
    per_tag = max(RELATED_COUNT, RELATED_TAG_CANDIDATES // max(len(tag_ids), 1))
    tagged = [
        TaggedItem.objects.filter(content_type=content_type, tag_id=tag_id)
        .order_by("-object_id")
        .values("object_id")[:per_tag]
        for tag_id in tag_ids
    ]
    same_section = (
        Article.objects.published()
        .filter(section_id=article.section_id)
        .order_by("-publish_at")
        .values("pk")[: RELATED_COUNT + 1]
    )
    # One IN over a UNION is a semi-join on the primary key; an OR of three
    # INs would make PostgreSQL read every story.
    candidates = picked_ids.union(*tagged, same_section, all=True)
    picks = Article.related.through.objects.filter(
        from_article_id=article.pk, to_article_id=OuterRef("pk")
    )
    shared = (
        TaggedItem.objects.filter(
            content_type=content_type, object_id=OuterRef("pk"), tag_id__in=tag_ids
        )
        .values("object_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return list(
        Article.objects.published()
        .exclude(pk=article.pk)
        .filter(pk__in=candidates)
        .annotate(
            picked=Exists(picks),
            shared_tags=Coalesce(Subquery(shared, output_field=IntegerField()), 0),
            same_section=Case(
                When(section_id=article.section_id, then=1),
                default=0,
                output_field=IntegerField(),
            ),
        )
        .select_related("section")
        # What the rail shows (a link, a headline, a section's name): the
        # fewer columns, the less the ORM has to compile and load.
        .only("headline", "slug", "url_date", "publish_at", "section__name")
        .order_by("-picked", "-shared_tags", "-same_section", "-publish_at")[
            :RELATED_COUNT
        ]
    )


def more_from_section(article, exclude=()):
    return list(
        Article.objects.published()
        .filter(section_id=article.section_id)
        .exclude(pk__in=[article.pk, *exclude])
        .only("headline", "slug", "url_date", "section_id")[:5]
    )


def paginate(request, queryset, per_page=PER_PAGE):
    """A page of ``queryset`` from ``?page=``; junk or past the end is a 404.

    No ``COUNT(*)``: the page fetches one id more than it shows to know
    whether there is a next page. The page's rows are found by primary key
    first (a walk of the index the archive is ordered by), and only those
    rows are then loaded with what the listing needs, so a deep page costs
    little more than the first one.
    """
    raw = request.GET.get("page") or "1"
    # isdigit() alone accepts digits int() refuses, such as "²".
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise Http404("No such page.")
    number = int(raw)
    offset = (number - 1) * per_page
    ids = list(queryset.values_list("pk", flat=True)[offset : offset + per_page + 1])
    if not ids and number > 1:
        raise Http404("No such page.")
    has_next, ids = len(ids) > per_page, ids[:per_page]
    rows = {
        a.pk: a
        for a in queryset.model.objects.filter(pk__in=ids).for_listing(photos=False)
    }
    return ArchivePage(number, [rows[pk] for pk in ids if pk in rows], has_next)


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
    """Full-text search, ranked, with highlighted snippets; one page of it."""
    query = SearchQuery(terms, search_type="websearch", config=SEARCH_CONFIG)
    candidates = (
        Article.objects.published()
        .filter(search_vector=query)
        .order_by("-publish_at")
        .values("pk")[:SEARCH_CANDIDATES]
    )
    # Ranking reads the search vectors of the candidates only; the ranked ids
    # (at most SEARCH_CANDIDATES) are paged here, without a COUNT query.
    ranked = list(
        Article.objects.filter(pk__in=Subquery(candidates))
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "-publish_at")
        .values_list("pk", flat=True)
    )
    try:
        page = Paginator(ranked, PER_PAGE).page(request.GET.get("page") or 1)
    except (InvalidPage, EmptyPage):
        raise Http404("No such page.") from None
    ids = list(page.object_list)
    snippets = dict(
        Article.objects.filter(pk__in=ids)
        .annotate(
            snippet=SearchHeadline(
                _snippet_source(),
                query,
                config=SEARCH_CONFIG,
                start_sel=_MARK_START,
                stop_sel=_MARK_STOP,
                max_words=35,
                min_words=15,
                max_fragments=2,
            )
        )
        .values_list("pk", "snippet")
    )
    listed = {
        a.pk: a for a in Article.objects.filter(pk__in=ids).for_listing(photos=False)
    }
    page.object_list = [listed[pk] for pk in ids]
    for article in page.object_list:
        article.snippet = highlight(snippets.get(article.pk, ""))
    return page


def _snippet_source():
    """The text snippets are cut from: the opening of the body, tags removed.

    ``ts_headline`` costs in proportion to the text it reads; the opening
    ``SNIPPET_SOURCE_CHARS`` of a story hold the match for most searches, and
    otherwise the snippet is the story's opening lines. A tag cut in half at
    the end is removed too.
    """
    opening = Left(F("body"), SNIPPET_SOURCE_CHARS)
    return Func(
        opening,
        Value("<[^>]*(>|$)"),
        Value(" "),
        Value("g"),
        function="regexp_replace",
        output_field=TextField(),
    )


def highlight(snippet):
    """Escape a snippet and turn the search markers into ``<mark>``."""
    # Tags were replaced by spaces: runs of them are collapsed.
    text = escape(" ".join(html.unescape(snippet).split()))
    return mark_safe(  # noqa: S308 - escaped above; only our markers become tags
        text.replace(_MARK_START, "<mark>").replace(_MARK_STOP, "</mark>")
    )
