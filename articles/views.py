"""The reader's site. Every story query starts from ``Article.objects.published()``."""

import datetime

from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache

from articles import services
from articles.models import Article, ArticleRedirect, Author, Section


def home(request):
    """The front page: the lead story, the featured stories, the latest."""
    latest = list(Article.objects.published().for_listing()[:20])
    return render(request, "articles/home.html", {"latest": latest})


def article_detail(request, year, month, day, slug):
    """A story at its dated address; an old address answers 301 to the new one."""
    try:
        url_date = datetime.date(int(year), int(month), int(day))
    except ValueError:
        raise Http404("No such date.") from None
    article = (
        Article.objects.published()
        .for_detail()
        .filter(url_date=url_date, slug=slug)
        .first()
    )
    if article is None:
        moved = (
            ArticleRedirect.objects.filter(old_path=request.path)
            .select_related("article")
            .first()
        )
        if moved and moved.article.is_live:
            return redirect(moved.article.get_absolute_url(), permanent=True)
        raise Http404("No story at this address.")
    return render(request, "articles/article_detail.html", {"article": article})


@never_cache
def article_preview(request, token):
    """A story as readers will see it, from a signed link (no login needed)."""
    article = services.article_from_preview_token(token)
    if article is None:
        response = render(request, "articles/preview_invalid.html", status=404)
    else:
        article = Article.objects.for_detail().get(pk=article.pk)
        response = render(
            request,
            "articles/article_detail.html",
            {"article": article, "preview": True},
        )
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    return response


def section_detail(request, slug):
    section = get_object_or_404(Section, slug=slug)
    articles = Article.objects.published().filter(section=section).for_listing()[:30]
    return render(
        request,
        "articles/section_detail.html",
        {"section": section, "articles": articles},
    )


def author_detail(request, slug):
    author = get_object_or_404(Author.objects.select_related("photo"), slug=slug)
    articles = (
        Article.objects.published().filter(bylines__author=author).for_listing()[:30]
    )
    return render(
        request, "articles/author_detail.html", {"author": author, "articles": articles}
    )


def tag_detail(request, slug):
    articles = list(
        Article.objects.published().filter(tags__slug=slug).for_listing()[:30]
    )
    if not articles:
        raise Http404("No stories with this tag.")
    return render(
        request, "articles/tag_detail.html", {"tag_slug": slug, "articles": articles}
    )


def search(request):
    raise Http404
