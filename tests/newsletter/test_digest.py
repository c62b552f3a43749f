import email
import re
from datetime import timedelta
from email import policy
from unittest import mock

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from articles.selectors import featured_since
from newsletter import emails, services
from newsletter.models import Delivery, Digest, Subscriber
from tests.factories import make_article, make_photo, make_staff
from tests.newsletter.conftest import make_subscriber, run_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.SITE_URL = "https://news.example.com"
    settings.NEWSLETTER_POSTAL_ADDRESS = "12 Press Row, Springfield"
    return tmp_path


@pytest.fixture
def editor():
    return make_staff("editor", "Editor")


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


def make_digest(*articles, subject="Morning briefing", intro="Good morning."):
    digest = Digest.objects.create(subject=subject, intro=intro)
    services.set_digest_items(digest, articles)
    return digest


def parse(message):
    return email.message_from_bytes(message.message().as_bytes(), policy=policy.default)


def test_featured_since_lists_only_featured_stories_readers_can_see():
    """The pre-fill takes featured stories published after the time, newest first."""
    now = timezone.now()
    old = make_article(is_featured=True, publish_at=now - timedelta(days=3))
    new = make_article(is_featured=True, publish_at=now - timedelta(hours=2))
    newer = make_article(is_featured=True, publish_at=now - timedelta(hours=1))
    make_article(is_featured=False, publish_at=now - timedelta(hours=1))
    make_article(is_featured=True, status="draft")
    make_article(is_featured=True, publish_at=now + timedelta(hours=1))  # scheduled
    assert list(featured_since(now - timedelta(days=1))) == [newer, new]
    assert list(featured_since(None)) == [newer, new, old]
    assert list(featured_since(new.publish_at)) == [newer]


def test_digest_email_is_multipart_with_links_photos_address_and_unsubscribe_headers(
    media,
):
    """Text and HTML, every link, a JPEG photo, the address and both headers."""
    photo = make_photo()
    first = make_article(
        headline="Bridge reopens", dek="After two years.", lead_photo=photo
    )
    second = make_article(headline="Council votes <yes>", dek="A close call.")
    digest = make_digest(first, second, intro="Two stories today.\n\nEnjoy.")
    subscriber = make_subscriber("jane@example.com")
    html, text = emails.render_digest(digest)
    message, message_id = emails.digest_message(
        digest, to=subscriber.email, subscriber_id=subscriber.pk, html=html, text=text
    )
    parsed = parse(message)
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",)).get_content()
    rich = parsed.get_body(("html",)).get_content()
    unsubscribe = emails.unsubscribe_url(subscriber.pk)
    https, mailto = re.findall(r"<([^>]+)>", str(parsed["List-Unsubscribe"]))
    assert https == unsubscribe
    assert mailto.startswith("mailto:unsubscribe@")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Message-ID"] == message_id
    for story in (first, second):
        url = f"https://news.example.com{story.get_absolute_url()}"
        assert url in plain
        assert f'href="{url}"' in rich
    assert "Council votes &lt;yes&gt;" in rich
    assert "Council votes <yes>" in plain
    assert re.search(
        r'<img [^>]*src="https://news\.example\.com/media/[^"]+\.jpg"', rich
    )
    assert "12 Press Row, Springfield" in plain and "12 Press Row, Springfield" in rich
    assert unsubscribe in plain and f'href="{unsubscribe}"' in rich
    assert 'style="' in rich  # CSS inlined for mail clients
    assert "<table" in rich


def test_the_email_is_rendered_once_per_digest_and_only_the_link_changes(media):
    """Two subscribers' emails differ only in their unsubscribe links."""
    digest = make_digest(make_article())
    a, b = make_subscriber("a@example.com"), make_subscriber("b@example.com")
    html, text = emails.render_digest(digest)
    mail_a, _ = emails.digest_message(
        digest, to=a.email, subscriber_id=a.pk, html=html, text=text
    )
    mail_b, _ = emails.digest_message(
        digest, to=b.email, subscriber_id=b.pk, html=html, text=text
    )
    url_a, url_b = emails.unsubscribe_url(a.pk), emails.unsubscribe_url(b.pk)
    assert mail_a.body.replace(url_a, "X") == mail_b.body.replace(url_b, "X")


def test_reporters_cannot_open_the_newsletter_admin(client):
    """Reporters get nothing in the newsletter's admin; editors get it all."""
    client.force_login(make_staff("reporter", "Reporter"))
    assert client.get("/admin/newsletter/digest/").status_code == 403
    assert client.get("/admin/newsletter/subscriber/").status_code == 403
    editor = make_staff("editor2", "Editor")
    assert editor.has_perm("newsletter.send_digest")
    client.force_login(editor)
    assert client.get("/admin/newsletter/digest/").status_code == 200


def test_new_digest_is_prefilled_with_featured_stories_since_the_last_one(
    editor_client,
):
    """The add form lists featured stories published since the last digest."""
    now = timezone.now()
    make_article(
        headline="Before", is_featured=True, publish_at=now - timedelta(days=2)
    )
    Digest.objects.create(
        subject="Last", status=Digest.Status.SENT, started_at=now - timedelta(days=1)
    )
    after = make_article(
        headline="After", is_featured=True, publish_at=now - timedelta(hours=1)
    )
    page = editor_client.get("/admin/newsletter/digest/add/")
    assert page.status_code == 200
    assert 'name="items-TOTAL_FORMS" value="1"' in page.text
    assert f'<option value="{after.pk}" selected>After</option>' in page.text
    response = editor_client.post(
        "/admin/newsletter/digest/add/",
        {
            "subject": "Today",
            "intro": "",
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-0-position": "1",
            "items-0-article": str(after.pk),
        },
    )
    assert response.status_code == 302
    digest = Digest.objects.get(subject="Today")
    assert [item.article for item in digest.items.all()] == [after]


def test_editor_previews_html_and_text_and_sends_a_test(
    editor_client, editor, mailoutbox, media
):
    """Preview shows the email as HTML and text; "send a test" mails the editor."""
    story = make_article(headline="Bridge reopens")
    digest = make_digest(story)
    change = editor_client.get(f"/admin/newsletter/digest/{digest.pk}/change/")
    assert "Send a test to me (editor@example.com)" in change.text
    assert "Send now…" in change.text
    preview = editor_client.get(f"/admin/newsletter/digest/{digest.pk}/preview/")
    assert "Bridge reopens" in preview.text  # in the text part
    html = editor_client.get(f"/admin/newsletter/digest/{digest.pk}/preview/email/")
    assert "Bridge reopens" in html.text
    assert "sandbox" in html["Content-Security-Policy"]
    assert html["X-Frame-Options"] == "SAMEORIGIN"  # shown in the preview's frame
    text = editor_client.get(f"/admin/newsletter/digest/{digest.pk}/preview/text/")
    assert text["Content-Type"].startswith("text/plain")
    assert "Bridge reopens" in text.text
    editor_client.post(f"/admin/newsletter/digest/{digest.pk}/send-test/")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [editor.email]
    assert mailoutbox[0].subject == "[Test] Morning briefing"
    assert Digest.objects.get().status == Digest.Status.DRAFT


def test_send_now_from_the_admin_sends_to_confirmed_subscribers_only(
    editor_client, mailoutbox, media
):
    """After "send now", each confirmed subscriber gets it once; counts are shown."""
    digest = make_digest(make_article())
    confirmed = [make_subscriber(f"c{n}@example.com") for n in range(5)]
    make_subscriber("p@example.com", status=Subscriber.Status.PENDING)
    make_subscriber("u@example.com", status=Subscriber.Status.UNSUBSCRIBED)
    confirm_page = editor_client.get(f"/admin/newsletter/digest/{digest.pk}/send/")
    assert "<strong>5</strong> confirmed subscribers" in confirm_page.text
    response = editor_client.post(f"/admin/newsletter/digest/{digest.pk}/send/")
    assert response.status_code == 302
    run_queued_tasks()
    assert sorted(m.to[0] for m in mailoutbox) == sorted(s.email for s in confirmed)
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT
    assert (digest.sent_count, digest.failed_count, digest.recipients_count) == (
        5,
        0,
        5,
    )
    progress = editor_client.get(f"/admin/newsletter/digest/{digest.pk}/progress/")
    assert '<td class="sent">5</td>' in progress.text
    assert 'http-equiv="refresh"' not in progress.text
    assert all(d.message_id for d in Delivery.objects.all())


def test_reporter_cannot_send(client, media):
    """Sending needs the send_digest permission, whatever the URL."""
    digest = make_digest(make_article())
    reporter = make_staff("rep", "Reporter")
    client.force_login(reporter)
    assert client.post(f"/admin/newsletter/digest/{digest.pk}/send/").status_code == 403
    with pytest.raises(services.PermissionDenied):
        services.schedule_digest(digest, user=reporter)
    assert not DBTaskResult.objects.exists()


def test_scheduled_digest_starts_by_itself_at_its_time(editor, mailoutbox, media):
    """A scheduled digest waits in the queue (run_after), then goes out; no cron."""
    digest = make_digest(make_article())
    make_subscriber()
    at = timezone.now() + timedelta(hours=2)
    services.schedule_digest(digest, user=editor, send_at=at)
    start = DBTaskResult.objects.get(task_path="newsletter.tasks.start_digest")
    assert start.run_after == at
    run_queued_tasks()
    assert mailoutbox == []
    DBTaskResult.objects.update(run_after=timezone.now() - timedelta(seconds=1))
    with mock.patch(
        "django.utils.timezone.now", return_value=at + timedelta(seconds=1)
    ):
        run_queued_tasks()
    assert len(mailoutbox) == 1
    assert Digest.objects.get().status == Digest.Status.SENT


def test_cancelled_schedule_sends_nothing(editor, mailoutbox, media):
    """Cancelling a schedule makes a draft again; its start task does nothing."""
    digest = make_digest(make_article())
    make_subscriber()
    services.schedule_digest(
        digest, user=editor, send_at=timezone.now() + timedelta(hours=1)
    )
    services.cancel_schedule(digest, user=editor)
    DBTaskResult.objects.update(run_after=timezone.now() - timedelta(seconds=1))
    run_queued_tasks()
    assert mailoutbox == []
    assert Digest.objects.get().status == Digest.Status.DRAFT
