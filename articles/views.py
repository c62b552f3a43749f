from django.shortcuts import render


def home(request):
    """The front page."""
    return render(request, "articles/home.html")


def article_detail(request, year, month, day, slug):
    raise NotImplementedError


def section_detail(request, slug):
    raise NotImplementedError


def author_detail(request, slug):
    raise NotImplementedError


def tag_detail(request, slug):
    raise NotImplementedError


def article_preview(request, token):
    raise NotImplementedError
