"""The reader's site. Every story query starts from ``Article.objects.published()``
(through ``articles.reader``), and every page runs a fixed number of queries."""

import datetime

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.cache import patch_response_headers
from django.utils.http import http_date
from django.views.decorators.cache import never_cache
from taggit.models import Tag

from articles import reader, services
from articles.caching import cache_public_page
from articles.models import ArticleRedirect, Author, Section
from newsroom import ratelimit


@cache_public_page
def home(request):
    """The front page: the lead story, the featured stories, the latest per section."""
    return render(request, "articles/home.html", reader.front_page())


@cache_public_page
def article_detail(request, year, month, day, slug):
    """A story at its dated address; an old address answers 301 to the new one."""
    try:
        url_date = datetime.date(int(year), int(month), int(day))
    except ValueError:
        raise Http404("No such date.") from None
    article = reader.story(url_date, slug)
    if article is None:
        moved = (
            ArticleRedirect.objects.filter(old_path=request.path)
            .select_related("article")
            .first()
        )
        if moved and moved.article.is_live:
            return redirect(moved.article.get_absolute_url(), permanent=True)
        raise Http404("No story at this address.")
    return _render_article(request, article)


def _render_article(request, article, preview=False):
    related, more_from_section = reader.rails(article)
    context = {
        "article": article,
        "preview": preview,
        "related": related,
        "more_from_section": more_from_section,
    }
    response = render(request, "articles/article_detail.html", context)
    if article.last_modified and not preview:
        response.headers["Last-Modified"] = _http_date(
            max(article.last_modified, article.modified_at)
        )
    return response


def _http_date(value):
    return http_date(value.timestamp())


@never_cache
def article_preview(request, token):
    """A story as readers will see it, from a signed link (no login needed)."""
    pk = services.preview_pk(token)
    # A story deleted since the link was made: as invalid as a forged token.
    article = reader.story_preview(pk) if pk is not None else None
    if article is None:
        response = render(request, "articles/preview_invalid.html", status=404)
    else:
        response = _render_article(request, article, preview=True)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    return response


@cache_public_page
def section_detail(request, slug):
    """A section's stories, newest first, paginated."""
    section = reader.by_slug(Section, slug)
    page = reader.paginate(request, "section", section.pk)
    return render(
        request, "articles/section_detail.html", {"section": section, "page": page}
    )


@cache_public_page
def author_detail(request, slug):
    """An author's portrait, bio and stories."""
    author = reader.by_slug(Author, slug, related="photo")
    page = reader.paginate(request, "author", author.pk)
    return render(
        request, "articles/author_detail.html", {"author": author, "page": page}
    )


@cache_public_page
def tag_detail(request, slug):
    """Stories with a tag."""
    tag = reader.by_slug(Tag, slug)
    page = reader.paginate(request, "tag", tag.pk)
    return render(request, "articles/tag_detail.html", {"tag": tag, "page": page})


def search(request):
    """Full-text search over published stories, rate-limited per address."""
    terms = " ".join(request.GET.get("q", "").split())
    if terms and ratelimit.hit(
        "search-ip",
        ratelimit.client_ip(request) or "unknown",
        limit=settings.SEARCHES_PER_IP,
        window=settings.SEARCH_WINDOW,
    ):
        response = render(
            request, "429.html", {"what": "searches", "terms": terms}, status=429
        )
        response["Retry-After"] = str(settings.SEARCH_WINDOW)
        return response
    context = {"terms": terms, "page": None, "problem": None}
    if not terms:
        context["problem"] = "empty"
    elif len(terms) > reader.MAX_QUERY_LENGTH:
        context["problem"] = "too_long"
        context["max_length"] = reader.MAX_QUERY_LENGTH
    elif "\x00" in terms:
        context["problem"] = "junk"
    else:
        context["page"] = reader.search(request, terms)
    response = render(request, "articles/search.html", context)
    patch_response_headers(response, cache_timeout=60)
    return response
