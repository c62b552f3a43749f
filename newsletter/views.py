"""Public newsletter pages: signup, confirmation, unsubscribe, archive.

Links that carry a token (confirm, unsubscribe) open a page with a button:
only the POST behind it changes anything, so link scanners that follow every
GET in an email change nothing.
"""

from functools import wraps

from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django.views.generic import DetailView, ListView

from articles.models import Article
from newsletter import services
from newsletter.forms import SignupForm
from newsletter.models import Digest
from newsroom import ratelimit
from newsroom.site import cached_reverse

SIGNUP_PAGE_SOURCE = "newsletter page"


def token_page(view):
    """Pages behind a secret link: never cached, indexed or leaked by Referer."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["X-Robots-Tag"] = "noindex, nofollow"
        response["Referrer-Policy"] = "same-origin"
        return response

    return never_cache(wrapper)


def _signup_page(request, form, status=200):
    return render(
        request,
        "newsletter/signup.html",
        {
            "form": form,
            "recent_digests": Digest.objects.archived()[:5],
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
def signup(request):
    """The newsletter page: what it is, the signup form, recent issues.

    The signup box on cached pages sends readers here with ``?email=``, to
    finish with this page's CSRF-protected form.
    """
    initial = {
        "email": request.GET.get("email", "")[:254],
        "source": request.GET.get("source", "")[:100] or SIGNUP_PAGE_SOURCE,
    }
    return _signup_page(request, SignupForm(initial=initial))


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


@never_cache
@require_POST
def subscribe(request):
    """Take a signup. The answer is the same whoever the address belongs to.

    A taken signup is answered with a redirect to the "check your inbox"
    page (post/redirect/get): reloading that page sends nothing again.
    """
    ip = ratelimit.client_ip(request)
    if services.signup_rate_limited(ip):
        response = render(request, "newsletter/rate_limited.html", status=429)
        response["Retry-After"] = str(settings.NEWSLETTER_SIGNUP_WINDOW)
        return response
    if request.POST.get("website"):
        # The honeypot is filled: a bot. It gets the usual answer, and nothing else.
        return _to_check_inbox()
    form = SignupForm(request.POST)
    if not form.is_valid():
        return _signup_page(request, form, status=400)
    services.subscribe(
        email=form.cleaned_data["email"],
        ip=ip,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        source=form.cleaned_data["source"] or SIGNUP_PAGE_SOURCE,
    )
    return _to_check_inbox()


def _to_check_inbox():
    # Every signup ends here: the address is reversed once per process.
    return HttpResponseSeeOther(cached_reverse("newsletter:check-inbox"))


@never_cache
@require_http_methods(["GET", "HEAD"])
def check_inbox(request):
    """Where a signup lands: "check your inbox", and a form to try again."""
    return render(
        request,
        "newsletter/check_inbox.html",
        {"form": SignupForm(initial={"source": "check inbox page"})},
    )


@token_page
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request, token):
    """GET shows a "Confirm my subscription" button; its POST confirms."""
    try:
        subscriber = services.subscriber_for_confirm_token(token)
    except services.TokenExpired:
        return _bad_link(request, expired=True)
    if subscriber is None:
        return _bad_link(request, expired=False)
    if request.method == "POST":
        services.confirm(subscriber)
        return render(request, "newsletter/confirmed.html")
    return render(
        request,
        "newsletter/confirm.html",
        {"already_confirmed": subscriber.is_confirmed},
    )


def _bad_link(request, *, expired):
    return render(
        request,
        "newsletter/link_invalid.html",
        {
            "expired": expired,
            "form": SignupForm(initial={"source": "expired link page"}),
        },
        status=400,
    )


@csrf_exempt  # RFC 8058: mail providers POST without cookies; the token is the secret
@token_page
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token):
    """GET shows an "Unsubscribe" button; any POST unsubscribes at once.

    The one-click POST of RFC 8058 (body ``List-Unsubscribe=One-Click``)
    comes here too and gets a 200 page, never a redirect.
    """
    subscriber = services.subscriber_for_unsubscribe_token(token)
    if subscriber is None:
        return render(request, "newsletter/unsubscribe_invalid.html", status=400)
    if request.method == "POST":
        services.unsubscribe(subscriber)
        return render(request, "newsletter/unsubscribed.html")
    return render(
        request,
        "newsletter/unsubscribe.html",
        {"already_unsubscribed": subscriber.status == subscriber.Status.UNSUBSCRIBED},
    )


class ArchiveView(ListView):
    """Past newsletters, newest first."""

    template_name = "newsletter/archive.html"
    context_object_name = "digests"
    paginate_by = 20

    def get_queryset(self):
        return Digest.objects.archived().only("pk", "subject", "started_at")


class ArchiveDetailView(DetailView):
    """One past newsletter, readable on the web."""

    template_name = "newsletter/archive_detail.html"
    context_object_name = "digest"

    def get_queryset(self):
        return Digest.objects.archived()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        digest = self.object
        article_ids = list(
            digest.items.order_by("position", "pk").values_list("article_id", flat=True)
        )
        # Stories unpublished since the digest went out are not shown.
        live = Article.objects.published().for_listing().in_bulk(article_ids)
        context["articles"] = [live[pk] for pk in article_ids if pk in live]
        context["intro_paragraphs"] = [
            p.strip() for p in digest.intro.split("\n\n") if p.strip()
        ]
        return context
