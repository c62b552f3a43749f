import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse
from django.utils import timezone

from newsletter import services
from newsletter.models import Digest, Subscriber, Suppression
from tests.factories import make_staff
from tests.newsletter.conftest import make_subscriber

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/newsletter/subscriber/"


@pytest.fixture
def editor_client(client):
    client.force_login(make_staff("editor", "Editor"))
    return client


def test_subscriber_list_filters_and_searches(editor_client):
    """Editors find subscribers by status and by part of the address."""
    make_subscriber("alice@example.com")
    make_subscriber("bob@example.org", status=Subscriber.Status.PENDING)
    confirmed = editor_client.get(CHANGELIST, {"status__exact": "confirmed"})
    assert (
        "alice@example.com" in confirmed.text
        and "bob@example.org" not in confirmed.text
    )
    found = editor_client.get(CHANGELIST, {"q": "example.org"})
    assert "bob@example.org" in found.text and "alice@example.com" not in found.text


def test_csv_export_is_streamed_follows_the_filters_and_defuses_formulas(editor_client):
    """The export streams the listed subscribers; a formula in a field stays text."""
    make_subscriber("alice@example.com", source='=HYPERLINK("http://evil")')
    make_subscriber("bob@example.com", status=Subscriber.Status.UNSUBSCRIBED)
    response = editor_client.get(f"{CHANGELIST}export/", {"status__exact": "confirmed"})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    )
    assert [row["email"] for row in rows] == ["alice@example.com"]
    assert rows[0]["source"].startswith("'=")


def test_csv_export_with_a_filter_the_list_does_not_have_is_refused(editor_client):
    """The list redirects such an address to its error page; the export
    answered it with a 500."""
    make_subscriber("alice@example.com")

    response = editor_client.get(f"{CHANGELIST}export/", {"format": "xlsx"})

    assert response.status_code == 400
    assert b"no filter for" in response.content


def test_import_confirms_only_with_a_consent_note_and_never_re_adds_erased(
    editor_client,
):
    """A confirmed import needs a consent note; addresses erased before stay out."""
    Suppression.objects.create(
        email_hash=services.suppression_hash("erased@example.com")
    )
    content = (
        b"email,name\nnew@example.com,New\nErased@Example.com,Gone\nnot-an-address,X\n"
    )
    refused = editor_client.post(
        f"{CHANGELIST}import/",
        {
            "file": SimpleUploadedFile("list.csv", content),
            "confirmed": "on",
            "consent_note": "",
        },
    )
    assert refused.status_code == 200
    assert "Confirmed imports need a note" in refused.text
    assert not Subscriber.objects.exists()
    done = editor_client.post(
        f"{CHANGELIST}import/",
        {
            "file": SimpleUploadedFile("list.csv", content),
            "confirmed": "on",
            "consent_note": "Signed up on paper at the 2026 book fair",
        },
        follow=True,
    )
    assert "Imported 1 new" in done.text
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.status) == ("new@example.com", "confirmed")
    assert subscriber.consent_note == "Signed up on paper at the 2026 book fair"


def test_one_subscribers_data_can_be_exported(editor_client):
    """A data-access request gets everything stored about the person, as JSON."""
    subscriber = make_subscriber(
        "alice@example.com", signup_ip="203.0.113.9", source="newsletter page"
    )
    response = editor_client.get(f"{CHANGELIST}{subscriber.pk}/data/")
    data = json.loads(response.content)
    assert data["email"] == "alice@example.com"
    assert data["signup_ip"] == "203.0.113.9"
    assert data["deliveries"] == []


def test_erasing_from_the_admin_leaves_only_a_hash(editor_client):
    """Deleting a subscriber erases them and keeps a suppression hash."""
    subscriber = make_subscriber("alice@example.com")
    page = editor_client.get(f"{CHANGELIST}{subscriber.pk}/delete/")
    assert "Only a keyed hash stays" in page.text
    editor_client.post(f"{CHANGELIST}{subscriber.pk}/delete/", {"post": "yes"})
    assert not Subscriber.objects.exists()
    suppression = Suppression.objects.get()
    assert "alice" not in suppression.email_hash


def test_bounce_and_complaint_actions_stop_sending(editor_client):
    """The admin actions mark chosen subscribers bounced or complained."""
    alice = make_subscriber("alice@example.com")
    bob = make_subscriber("bob@example.com")
    assert "Erase selected subscribers" in editor_client.get(CHANGELIST).text
    for action, subscriber in [("mark_bounced", alice), ("mark_complained", bob)]:
        editor_client.post(
            CHANGELIST, {"action": action, "_selected_action": [subscriber.pk]}
        )
    assert dict(Subscriber.objects.values_list("email", "status")) == {
        "alice@example.com": "bounced",
        "bob@example.com": "complained",
    }


def test_chart_shows_growth_and_unsubscribes_per_digest_as_svg(editor_client):
    """The chart page draws growth and unsubscribes per digest as server-side SVG."""
    now = timezone.now()
    make_subscriber("a@example.com", confirmed_at=now - timedelta(days=10))
    make_subscriber("b@example.com", confirmed_at=now - timedelta(days=5))
    make_subscriber(
        "c@example.com",
        status=Subscriber.Status.UNSUBSCRIBED,
        confirmed_at=now - timedelta(days=20),
        unsubscribed_at=now - timedelta(days=2),
    )
    Digest.objects.create(
        subject="Issue 1", status="sent", started_at=now - timedelta(days=3)
    )
    page = editor_client.get(f"{CHANGELIST}chart/")
    assert page.status_code == 200
    assert page.text.count('class="newsletter-chart"') == 2
    assert "<polyline" in page.text
    assert "Issue 1: 1" in page.text  # one unsubscribe after Issue 1
    assert "to 2 on" in page.text  # two confirmed today


def test_subscribers_cannot_be_added_by_hand(editor_client):
    """Addresses come from the signup form or an import, not from a blank admin form."""
    assert editor_client.get(f"{CHANGELIST}add/").status_code == 403
