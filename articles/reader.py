"""Queries behind the reader's pages, each a fixed number of SQL queries.

Everything starts from ``Article.objects.published()``.
"""

import html

from django.contrib.contenttypes.models import ContentType
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
    Q,
    Subquery,
    TextField,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404
from django.utils.html import escape
from django.utils.safestring import mark_safe
from taggit.models import TaggedItem

from articles.models import SEARCH_CONFIG, Article
from articles.paginators import EstimatedCountPaginator

PER_PAGE = 20
LATEST_PER_SECTION = 4
RELATED_COUNT = 6
MAX_QUERY_LENGTH = 200
# Ranking every match of a common word in a large archive is slow and
# pointless: the newest matches are ranked, and readers page through those.
SEARCH_CANDIDATES = 500
_MARK_START, _MARK_STOP = "\x02", "\x03"


def front_page():
    """The lead story, the featured stories and the latest per section."""
    featured = list(
        Article.objects.published().filter(is_featured=True).for_listing()[:5]
    )
    ranked = (
        Article.objects.published()
        .annotate(
            section_rank=Window(
                RowNumber(),
                partition_by=F("section_id"),
                order_by=F("publish_at").desc(),
            )
        )
        .filter(section_rank__lte=LATEST_PER_SECTION)
        .exclude(pk__in=[a.pk for a in featured])
        .for_listing()
        .order_by("section__position", "section__name", "-publish_at")
    )
    by_section = {}
    for article in ranked:
        by_section.setdefault(article.section, []).append(article)
    return {
        "lead": featured[0] if featured else None,
        "featured": featured[1:],
        "sections": list(by_section.items()),
    }


def related_stories(article):
    """Editor's picks first, then stories sharing tags, then the section."""
    picks = Article.related.through.objects.filter(
        from_article_id=article.pk, to_article_id=OuterRef("pk")
    )
    content_type = ContentType.objects.get_for_model(Article)
    tag_ids = [tag.pk for tag in article.tags.all()]  # prefetched
    shared = (
        TaggedItem.objects.filter(
            content_type=content_type, object_id=OuterRef("pk"), tag_id__in=tag_ids
        )
        .values("object_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    tagged = TaggedItem.objects.filter(
        content_type=content_type, tag_id__in=tag_ids
    ).values("object_id")
    return list(
        Article.objects.published()
        .exclude(pk=article.pk)
        .filter(Exists(picks) | Q(pk__in=tagged) | Q(section_id=article.section_id))
        .annotate(
            picked=Exists(picks),
            shared_tags=Coalesce(Subquery(shared, output_field=IntegerField()), 0),
            same_section=Case(
                When(section_id=article.section_id, then=1),
                default=0,
                output_field=IntegerField(),
            ),
        )
        .select_related("section", "lead_photo")
        .order_by("-picked", "-shared_tags", "-same_section", "-publish_at")[
            :RELATED_COUNT
        ]
    )


def more_from_section(article, exclude=()):
    return list(
        Article.objects.published()
        .filter(section_id=article.section_id)
        .exclude(pk__in=[article.pk, *exclude])
        .select_related("section")[:5]
    )


def paginate(request, queryset, per_page=PER_PAGE):
    """A page of ``queryset`` from ``?page=``; junk or out of range is a 404.

    The page's rows are found by primary key first (an index-only walk), and
    only those rows are then loaded with what the listing needs, so a deep
    page costs little more than the first one.
    """
    paginator = EstimatedCountPaginator(queryset, per_page)
    try:
        number = paginator.validate_number(request.GET.get("page") or 1)
    except (InvalidPage, EmptyPage):
        raise Http404("No such page.") from None
    offset = (number - 1) * per_page
    ids = list(queryset.values_list("pk", flat=True)[offset : offset + per_page])
    if not ids and number > 1:
        raise Http404("No such page.")
    rows = {a.pk: a for a in queryset.model.objects.filter(pk__in=ids).for_listing()}
    return _Page(paginator, number, ids, rows)


class _Page:
    """The slice of a Django ``Page`` the templates use."""

    def __init__(self, paginator, number, ids, rows):
        self.paginator = paginator
        self.number = number
        self.object_list = [rows[pk] for pk in ids if pk in rows]
        self._has_next = len(ids) == paginator.per_page and (
            number < paginator.num_pages
        )

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
    plain_body = Func(
        F("body"),
        Value("<[^>]+>"),
        Value(" "),
        Value("g"),
        function="regexp_replace",
        output_field=TextField(),
    )
    results = (
        Article.objects.filter(pk__in=Subquery(candidates))
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "-publish_at")
    )
    paginator = Paginator(results, PER_PAGE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except (InvalidPage, EmptyPage):
        raise Http404("No such page.") from None
    ids = [a.pk for a in page.object_list]
    snippets = dict(
        Article.objects.filter(pk__in=ids)
        .annotate(
            snippet=SearchHeadline(
                plain_body,
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
    listed = {a.pk: a for a in Article.objects.filter(pk__in=ids).for_listing()}
    page.object_list = [listed[pk] for pk in ids]
    for article in page.object_list:
        article.snippet = highlight(snippets.get(article.pk, ""))
    return page


def highlight(snippet):
    """Escape a snippet and turn the search markers into ``<mark>``."""
    text = escape(html.unescape(snippet))
    return mark_safe(  # noqa: S308 - escaped above; only our markers become tags
        text.replace(_MARK_START, "<mark>").replace(_MARK_STOP, "</mark>")
    )
