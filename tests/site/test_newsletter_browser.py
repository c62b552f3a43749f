"""A reader subscribes in Chromium and confirms from the emailed link."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from newsletter.models import Subscriber
from tests.factories import make_article
from tests.newsletter.conftest import CONFIRM_LINK, run_email_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reader_subscribes_and_confirms_with_the_emailed_link(
    live_server, page, mailoutbox
):
    """Subscribe from a story page, open the emailed link, confirm."""
    problems = []
    page.on(
        "console",
        lambda message: message.type == "error" and problems.append(message.text),
    )
    article = make_article(headline="Harbour plan approved")
    page.goto(f"{live_server.url}{article.get_absolute_url()}")
    box = page.locator(".signup-box form")
    box.get_by_label("Email address").fill("reader@example.com")
    box.get_by_role("button", name="Sign up").click()
    # The cached story page hands over to the signup page's protected form.
    expect(page.get_by_label("Email address")).to_have_value("reader@example.com")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING

    run_email_worker()
    assert len(mailoutbox) == 1
    link = urlsplit(CONFIRM_LINK.search(mailoutbox[0].body).group(0))
    page.goto(f"{live_server.url}{link.path}")
    expect(
        page.get_by_role("heading", name="Confirm your subscription")
    ).to_be_visible()
    assert (
        Subscriber.objects.get().status == Subscriber.Status.PENDING
    )  # opening is not confirming
    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", name="You're subscribed")).to_be_visible()
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert subscriber.email == "reader@example.com"
    assert problems == []
