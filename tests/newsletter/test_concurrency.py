"""Many signups at once: one subscriber per address, one email each, no 5xx."""

import random
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from newsletter import services
from newsletter.models import Subscriber
from tests.newsletter.conftest import run_email_worker

pytestmark = pytest.mark.django_db(transaction=True)


def csrf_cookie_and_token(base_url):
    """What a browser gets from the form page: the CSRF cookie and the form's token."""
    with urllib.request.urlopen(f"{base_url}/newsletter/") as response:  # noqa: S310
        cookie = next(
            value.split(";", 1)[0]
            for name, value in response.headers.items()
            if name.lower() == "set-cookie" and value.startswith("csrftoken=")
        )
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return cookie, token


def post_signup(base_url, cookie, token, email):
    body = urllib.parse.urlencode(
        {
            "email": email,
            "source": "load test",
            "website": "",
            "csrfmiddlewaretoken": token,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310
        f"{base_url}/newsletter/subscribe/",
        data=body,
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_200_concurrent_signups_give_150_subscribers_and_150_emails(
    live_server, settings, mailoutbox
):
    """200 signups at once, 50 repeats in any case: 150 rows, 150 emails, no 5xx."""
    settings.NEWSLETTER_SIGNUPS_PER_IP = 10_000
    unique = [f"reader{n}@example.com" for n in range(150)]
    repeats = [
        f"Reader{n}@EXAMPLE.COM" if n % 2 else f"reader{n}@example.com"
        for n in range(50)
    ]
    emails = unique + repeats
    random.Random(8058).shuffle(emails)
    cookie, token = csrf_cookie_and_token(live_server.url)

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(
            pool.map(
                lambda email: post_signup(live_server.url, cookie, token, email), emails
            )
        )

    statuses = [status for status, _ in results]
    assert statuses == [200] * 200, sorted(set(statuses))
    assert all("Check your inbox" in body for _, body in results)
    assert Subscriber.objects.count() == 150
    run_email_worker()
    recipients = sorted(message.to[0].lower() for message in mailoutbox)
    assert len(mailoutbox) == 150
    assert recipients == sorted(unique)


def test_simultaneous_signups_of_one_address_in_any_case_make_one_row():
    """Twelve simultaneous signups of one address, in any case: one row, one email."""
    variants = [
        "race@example.com",
        "Race@example.com",
        "RACE@EXAMPLE.COM",
        "race@Example.Com",
    ]
    barrier = threading.Barrier(12)
    errors = []

    def sign_up(n):
        try:
            barrier.wait()
            return services.subscribe(
                email=variants[n % len(variants)],
                ip="192.0.2.1",
                user_agent="t",
                source="race",
            )
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=12) as pool:
        notices = list(pool.map(sign_up, range(12)))

    assert errors == []
    assert Subscriber.objects.count() == 1
    assert [n for n in notices if n is not None] == [services.Notice.CONFIRM]
