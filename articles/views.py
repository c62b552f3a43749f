from django.shortcuts import render


def home(request):
    """The front page."""
    return render(request, "articles/home.html")
