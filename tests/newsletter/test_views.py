import re
from datetime import timedelta
from unittest import mock

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import timezone

from newsletter import services
from newsletter.models import Digest, DigestItem, Subscriber
from tests.factories import make_article
from tests.newsletter.conftest import (
    confirm_path,
    make_subscriber,
    run_queued_tasks,
    unsubscribe_path,
)

pytestmark = pytest.mark.django_db

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


CHECK_INBOX = "/newsletter/check-inbox/"


def test_reloading_the_check_inbox_page_signs_up_no_one_again(client, mailoutbox):
    """After a signup the browser is on a plain GET page: a reload sends nothing."""
    response = client.post(
        "/newsletter/subscribe/", {"email": "jane@example.com"}, follow=True
    )
    assert response.redirect_chain == [(CHECK_INBOX, 303)]
    assert "Check your inbox" in response.text
    assert 'action="/newsletter/subscribe/"' in response.text  # "typed it wrong?"
    client.get(CHECK_INBOX)
    run_queued_tasks()
    assert Subscriber.objects.count() == 1
    assert len(mailoutbox) == 1


def csrf_client():
    """A browser-like client that must send the CSRF token it got from the form page."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/newsletter/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return client, token


def signup(client, token, email, **extra):
    return client.post(
        "/newsletter/subscribe/",
        {
            "email": email,
            "source": "newsletter page",
            "csrfmiddlewaretoken": token,
            **extra,
        },
    )


def test_newsletter_page_has_a_signup_form_with_csrf_and_honeypot(client):
    """/newsletter/ shows a form posting to the signup URL, with a hidden honeypot."""
    response = client.get("/newsletter/")
    assert response.status_code == 200
    assert 'action="/newsletter/subscribe/"' in response.text
    assert "csrfmiddlewaretoken" in response.text
    assert re.search(r'<div hidden>\s*<label for="id_website"', response.text)


def test_signup_then_confirm_by_email_link(client, mailoutbox):
    """Signing up shows "check your inbox"; the emailed link's button confirms."""
    response = client.post("/newsletter/subscribe/", {"email": "jane@example.com"})
    assert response.status_code == 303
    assert response["Location"] == CHECK_INBOX
    assert "Check your inbox" in client.get(response["Location"]).text
    run_queued_tasks()
    path = confirm_path(mailoutbox[0])
    page = client.get(path)
    assert "Confirm my subscription" in page.text
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING
    done = client.post(path)
    assert done.status_code == 200
    assert "You're subscribed" in done.text
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert subscriber.confirmed_at is not None


def test_signup_response_is_the_same_for_new_pending_confirmed_and_unsubscribed():
    """Nobody can tell from the answer whether an address is known."""
    make_subscriber("pending@example.com", status=Subscriber.Status.PENDING)
    make_subscriber("confirmed@example.com", status=Subscriber.Status.CONFIRMED)
    make_subscriber("gone@example.com", status=Subscriber.Status.UNSUBSCRIBED)
    client, token = csrf_client()
    answers = []
    for email in [
        "new@example.com",
        "pending@example.com",
        "confirmed@example.com",
        "gone@example.com",
    ]:
        response = signup(client, token, email)
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in {"set-cookie"}
        }
        answers.append(
            (response.status_code, headers, CSRF_INPUT.sub("", response.text))
        )
    assert answers[0][0] == 303
    assert all(answer == answers[0] for answer in answers[1:])


def test_invalid_address_is_shown_again_with_an_error(client):
    """A malformed address gets the form back with an explanation, and no subscriber."""
    response = client.post("/newsletter/subscribe/", {"email": "jane@"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.text
    assert not Subscriber.objects.exists()


def test_header_injection_attempt_is_refused(client):
    """An address carrying a line break is refused."""
    response = client.post(
        "/newsletter/subscribe/", {"email": "jane@example.com\r\nBcc: all@example.com"}
    )
    assert response.status_code == 400
    assert not Subscriber.objects.exists()


def test_honeypot_filled_gets_the_usual_answer_and_nothing_else(client, mailoutbox):
    """A bot filling the hidden field is told to check its inbox; nothing is stored."""
    response = client.post(
        "/newsletter/subscribe/",
        {"email": "bot@example.com", "website": "http://spam.example"},
    )
    assert response.status_code == 303
    assert response["Location"] == CHECK_INBOX
    assert not Subscriber.objects.exists()


def test_too_many_signups_from_one_ip_get_a_429_page(client, settings):
    """Past the per-IP limit, signups get a friendly "too many attempts" page."""
    settings.NEWSLETTER_SIGNUPS_PER_IP = 2
    for n in range(2):
        assert (
            client.post(
                "/newsletter/subscribe/", {"email": f"r{n}@example.com"}
            ).status_code
            == 303
        )
    response = client.post("/newsletter/subscribe/", {"email": "r3@example.com"})
    assert response.status_code == 429
    assert "Too many attempts" in response.text
    assert response["Retry-After"] == str(settings.NEWSLETTER_SIGNUP_WINDOW)
    assert Subscriber.objects.count() == 2
    other_ip = client.post(
        "/newsletter/subscribe/",
        {"email": "r4@example.com"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert other_ip.status_code == 303


def test_get_on_confirm_link_changes_nothing(client):
    """Opening the confirm link (GET, HEAD), as link scanners do, confirms no one."""
    subscriber = make_subscriber(status=Subscriber.Status.PENDING)
    path = f"/newsletter/confirm/{services.confirm_token(subscriber)}/"
    assert client.get(path).status_code == 200
    assert client.head(path).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.confirmed_at is None


def test_expired_confirm_link_explains_and_offers_a_new_email(client):
    """A link over seven days old gets a clear page and a form for a new one."""
    subscriber = make_subscriber(status=Subscriber.Status.PENDING)
    path = f"/newsletter/confirm/{services.confirm_token(subscriber)}/"
    later = timezone.now() + timedelta(days=8)
    with mock.patch("time.time", return_value=later.timestamp()):
        page = client.get(path)
        post = client.post(path)
    assert page.status_code == 400
    assert "This link has expired" in page.text
    assert 'action="/newsletter/subscribe/"' in page.text
    assert post.status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING


def test_forged_confirm_link_changes_nothing(client):
    """A made-up confirmation token confirms no one and says the link doesn't work."""
    subscriber = make_subscriber(status=Subscriber.Status.PENDING)
    response = client.post(f"/newsletter/confirm/{subscriber.pk}:abc:forged/")
    assert response.status_code == 400
    assert "This link doesn't work" in response.text
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING


def test_token_pages_are_private(client):
    """Pages behind secret links are not cached, indexed or leaked through Referer."""
    subscriber = make_subscriber()
    response = client.get(unsubscribe_path(subscriber))
    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "same-origin"


def test_get_on_unsubscribe_link_shows_a_button_and_changes_nothing(client):
    """The unsubscribe link shows a button and a way back; GET changes nothing."""
    subscriber = make_subscriber()
    response = client.get(unsubscribe_path(subscriber))
    assert response.status_code == 200
    assert '<button type="submit">Unsubscribe</button>' in response.text
    assert 'href="/"' in response.text
    client.head(unsubscribe_path(subscriber))
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED


def test_unsubscribe_button_unsubscribes(client):
    """Pressing the button on the unsubscribe page unsubscribes at once."""
    subscriber = make_subscriber()
    response = client.post(
        unsubscribe_path(subscriber), {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert "You're unsubscribed" in response.text
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.unsubscribed_at is not None


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_one_click_unsubscribe_without_cookies_or_csrf(content_type):
    """The RFC 8058 POST from a mail provider unsubscribes; 200, no redirect."""
    subscriber = make_subscriber()
    client = Client(enforce_csrf_checks=True)
    if content_type == "multipart/form-data":
        response = client.post(
            unsubscribe_path(subscriber), {"List-Unsubscribe": "One-Click"}
        )
    else:
        response = client.post(
            unsubscribe_path(subscriber),
            data="List-Unsubscribe=One-Click",
            content_type=content_type,
        )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert not response.cookies.get("sessionid")
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_forged_unsubscribe_token_changes_nothing():
    """A POST with a made-up token unsubscribes no one."""
    subscriber = make_subscriber()
    client = Client(enforce_csrf_checks=True)
    for token in [f"{subscriber.pk}:forged", services.confirm_token(subscriber), "x"]:
        response = client.post(
            f"/newsletter/unsubscribe/{token}/",
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED


def test_signup_box_hands_over_to_the_protected_signup_form():
    """The box on cached pages holds no per-visitor token; its hand-off works."""
    request = RequestFactory().get("/2026/01/02/a-story/")
    html = render_to_string("includes/signup_box.html", request=request)
    assert 'method="get" action="/newsletter/"' in html
    assert "csrfmiddlewaretoken" not in html
    source = re.search(r'name="source" value="([^"]+)"', html).group(1)
    assert source == "signup box /2026/01/02/a-story/"
    client = Client(enforce_csrf_checks=True)
    page = client.get("/newsletter/", {"email": "box@example.com", "source": source})
    assert page["Cache-Control"].startswith("max-age=0")
    form = page.content.decode()
    assert 'value="box@example.com"' in form
    assert re.search(r'<div hidden>\s*<label for="[^"]*website"', form) or (
        'name="website"' in form
    )
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    response = client.post(
        "/newsletter/subscribe/",
        {
            "email": "box@example.com",
            "source": source,
            "website": "",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 303
    assert Subscriber.objects.get().source == source


def test_archive_lists_sent_digests_and_shows_one_on_the_web(client):
    """Sent digests are listed at /newsletter/archive/ and readable; drafts are not."""
    story = make_article(headline="Bridge reopens", dek="After two years.")
    hidden = make_article(headline="Not yet", status="draft")
    sent = Digest.objects.create(
        subject="Tuesday's picks",
        intro="Hello readers.",
        status=Digest.Status.SENT,
        started_at=timezone.now(),
    )
    DigestItem.objects.create(digest=sent, article=story, position=1)
    DigestItem.objects.create(digest=sent, article=hidden, position=2)
    draft = Digest.objects.create(subject="Draft issue")
    listing = client.get("/newsletter/archive/")
    assert "Tuesday&#39;s picks" in listing.text
    assert "Draft issue" not in listing.text
    page = client.get(sent.get_absolute_url())
    assert page.status_code == 200
    assert "Bridge reopens" in page.text
    assert "Hello readers." in page.text
    assert "Not yet" not in page.text
    assert client.get(draft.get_absolute_url()).status_code == 404
