"""The digest's MIME, built once per batch and filled in per subscriber.

``emails.DigestMail`` lets Django build the message once and writes each
subscriber's headers and unsubscribe link into it; ``sending`` sends those
bytes straight over SMTP and marks each row sent without waiting for the
database. What arrives must be what Django would have built.
"""

import email
import quopri
import re
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from newsletter import emails, sending, services
from newsletter.models import Delivery, Digest
from tests.factories import make_article
from tests.newsletter.conftest import make_subscriber

pytestmark = pytest.mark.django_db

SITE_URL = "https://news.example.com"


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = SITE_URL
    settings.NEWSLETTER_POSTAL_ADDRESS = "12 Press Row, Springfield"
    settings.NEWSLETTER_BATCH_SIZE = 10


def make_digest(subject="Morning briefing", intro="Good morning.", **article):
    digest = Digest.objects.create(subject=subject, intro=intro)
    services.set_digest_items(digest, [make_article(**article)])
    return digest


def start(digest):
    Digest.objects.filter(pk=digest.pk).update(
        status=Digest.Status.SCHEDULED, send_at=timezone.now()
    )
    sending.start(digest.pk)
    DBTaskResult.objects.all().delete()  # the batches are run by hand
    digest.refresh_from_db()
    return digest


def parse(data):
    return email.message_from_bytes(data, policy=policy.default)


def parts(message):
    return (
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    )


def links(message):
    https, mailto = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    return https, mailto


def assert_addressed_to(message, subscriber):
    """To, both List-Unsubscribe links and the body's links: this subscriber's."""
    url = emails.unsubscribe_url(subscriber.pk)
    token = services.unsubscribe_token(subscriber.pk)
    assert message["To"] == subscriber.email
    https, mailto = links(message)
    assert https == url
    assert mailto.endswith("?subject=unsubscribe%20" + token.replace(":", "%3A"))
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html = parts(message)
    assert url in plain and f'href="{url}"' in html
    found = set(re.findall(r"/newsletter/unsubscribe/([^/\s\"]+)/", plain + html))
    assert found == {token}


def test_each_subscriber_in_a_batch_gets_their_own_to_header_and_links(mailoutbox):
    """One batch, one MIME skeleton: each message still has its own addressee."""
    subscribers = [make_subscriber(f"reader{n}@example.com") for n in range(4)]
    digest = start(make_digest())
    assert sending.send_batch(digest.pk)["sent"] == 4
    assert len(mailoutbox) == 4
    by_address = {s.email: s for s in subscribers}
    message_ids = set()
    for sent in mailoutbox:
        assert isinstance(sent, emails.PrebuiltEmail)
        message = parse(sent.message().as_bytes())
        assert message.get_content_type() == "multipart/alternative"
        assert_addressed_to(message, by_address[sent.to[0]])
        message_ids.add(message["Message-ID"])
    assert len(message_ids) == 4
    assert message_ids == set(Delivery.objects.values_list("message_id", flat=True))


def test_non_ascii_subject_intro_and_story_arrive_intact(mailoutbox):
    """Accents, dashes and CJK in the subject, intro and a headline survive."""
    subject = "Zürich’s café — 日本語のニュース " * 3  # long enough to be folded
    intro = "Ça va? Ünïcödé ☕ everywhere.\n\nSecond paragraph: ½ = 0.5"
    subscriber = make_subscriber("jane@example.com")
    digest = start(
        make_digest(subject=subject, intro=intro, headline="Bridge “reopens” in Łódź")
    )
    sending.send_batch(digest.pk)
    message = parse(mailoutbox[0].message().as_bytes())
    assert message["Subject"] == subject
    plain, html = parts(message)
    for text in ("Ça va? Ünïcödé ☕ everywhere.", "Second paragraph: ½ = 0.5"):
        assert text in plain and text in html
    assert "Bridge “reopens” in Łódź" in plain
    assert "Łódź" in html
    assert_addressed_to(message, subscriber)


def test_the_prebuilt_message_is_what_django_would_build():
    """Headers, parts, encodings and decoded text match Django's own build."""
    digest = make_digest(
        subject="Café — news", intro="Ünïcödé intro.", headline="A = B, ‘quoted’"
    )
    subscriber = make_subscriber("jane.doe+news@mail.example.com")
    html, text = emails.render_digest(digest)
    prebuilt, message_id = emails.digest_message(
        digest, to=subscriber.email, subscriber_id=subscriber.pk, html=html, text=text
    )
    assert isinstance(prebuilt, emails.PrebuiltEmail)
    ours = parse(prebuilt.message(policy=policy.SMTP).as_bytes())
    django = parse(
        EmailMultiAlternatives.message(prebuilt, policy=policy.SMTP).as_bytes()
    )
    for header in (
        "Subject",
        "From",
        "To",
        "Message-ID",
        "List-Unsubscribe-Post",
        "List-Id",
        "MIME-Version",
    ):
        # (Python folds a long Message-ID onto its own line, read back with
        # the fold's space in front.)
        assert ours[header] == django[header].strip(), header
    assert ours["Message-ID"] == message_id
    assert links(ours) == links(django)
    assert ours["Date"].datetime.tzinfo is not None
    assert ours.get_content_type() == django.get_content_type()
    for mine, theirs in zip(ours.iter_parts(), django.iter_parts(), strict=True):
        assert mine.get_content_type() == theirs.get_content_type()
        assert mine["Content-Transfer-Encoding"] == theirs["Content-Transfer-Encoding"]
        assert mine.get_content() == theirs.get_content()
    assert not ours.defects and not any(part.defects for part in ours.walk())
    data = prebuilt.message(policy=policy.SMTP).as_bytes()
    # Plain links, folded between them: mail clients do not decode RFC 2047
    # encoded words here (Python folds a long one into such words).
    https, mailto = links(ours)
    assert f"\r\nList-Unsubscribe: <{https}>,\r\n <{mailto}>\r\n".encode() in data
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


@pytest.mark.parametrize(
    "address", ["jörg@example.com", "reader@bücher.example", '"Jo Doe"@example.com']
)
def test_an_address_the_plain_header_cannot_carry_gets_django_s_message(
    address, mailoutbox
):
    """Non-ASCII or quoted addresses: the message is built the usual way."""
    subscriber = make_subscriber(address)
    digest = start(make_digest())
    assert sending.send_batch(digest.pk)["sent"] == 1
    sent = mailoutbox[0]
    assert type(sent) is EmailMultiAlternatives
    message = parse(sent.message().as_bytes())
    https, _ = links(message)
    assert https == emails.unsubscribe_url(subscriber.pk)
    assert https in parts(message)[0]


@hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="ab =.\t\r\néç—日☕", max_size=90),
            st.just(emails.UNSUBSCRIBE_PLACEHOLDER),
            st.sampled_from([" " * 75, "x" * 76, "\t" * 80, ".", "\n.\n"]),
        ),
        max_size=12,
    ),
    st.integers(min_value=1, max_value=150),
)
def test_a_body_encoded_in_pieces_decodes_to_the_text_with_the_link(pieces, length):
    """Around the link, quoted-printable stays valid whatever the text."""
    text = "".join(pieces)
    url = f"{SITE_URL}/newsletter/unsubscribe/{'7' * length}:sig-_/"
    body = emails._Body(text, str)
    encoded = body.encoded(url)
    expected = emails._crlf_lines(text.replace(emails.UNSUBSCRIBE_PLACEHOLDER, url))
    if body.cte == "base64":
        assert (
            email.message_from_bytes(
                b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded
            ).get_payload(decode=True)
            == expected
        )
        return
    assert quopri.decodestring(encoded) == expected
    lines = encoded.split(b"\r\n")
    assert lines[-1] == b""  # ends with a line break
    for line in lines:
        assert len(line) <= 76
        assert b"\r" not in line and b"\n" not in line
        assert not line.endswith((b" ", b"\t"))
        assert line.isascii()


def test_the_snapshot_leaves_statistics_for_the_claim_and_an_index_in_its_order():
    """ANALYZE after the snapshot; the pending index serves the claim, unsorted."""
    for n in range(5):
        make_subscriber(f"reader{n}@example.com")
    digest = start(make_digest())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE relname = 'newsletter_delivery'"
        )
        assert cursor.fetchone()[0] >= 5
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        claim = (
            Delivery.objects.filter(
                digest_id=digest.pk,
                status=Delivery.Status.PENDING,
                available_at__lte=timezone.now(),
            )
            .order_by("available_at", "pk")
            .values_list("pk", "subscriber__email")[:100]
        )
        plan = claim.explain()
    assert "newsletter_dlv_pending_idx" in plan
    assert "Sort" not in plan


def test_a_send_starts_two_batch_chains_that_end_when_nothing_is_left(mailoutbox):
    """Two batch tasks are queued at the start; each ends when it claims nothing."""
    for n in range(3):
        make_subscriber(f"reader{n}@example.com")
    digest = make_digest()
    Digest.objects.filter(pk=digest.pk).update(
        status=Digest.Status.SCHEDULED, send_at=timezone.now()
    )
    sending.start(digest.pk)
    batches = DBTaskResult.objects.filter(
        task_path="newsletter.tasks.send_digest_batch"
    )
    assert batches.count() == sending.BATCH_CHAINS == 2
    DBTaskResult.objects.all().delete()
    assert sending.send_batch(digest.pk)["sent"] == 3
    assert sending.send_batch(digest.pk) == {"claimed": 0}
    assert len(mailoutbox) == 3


# Over SMTP ------------------------------------------------------------------


class Recorder:
    """Keeps every message; notes how many rows were marked sent at each."""

    def __init__(self):
        self.received = []
        self.marked_before = []

    async def handle_DATA(self, server, session, envelope):
        # Runs in the server's thread, with its own database connection.
        try:
            self.marked_before.append(
                Delivery.objects.filter(status=Delivery.Status.SENT).count()
            )
        finally:
            connection.close()
        self.received.append((envelope.rcpt_tos, envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
        }
    }
    yield recorder
    controller.stop()


@pytest.mark.django_db(transaction=True)
def test_over_smtp_each_message_is_valid_and_the_previous_one_is_marked_first(
    smtp_server,
):
    """Straight over SMTP: valid MIME per subscriber, and when the server takes
    a message, every earlier one is marked sent (a kill resends at most one)."""
    subscribers = [make_subscriber(f"reader{n}@example.com") for n in range(6)]
    make_subscriber("reader@bücher.example")  # through the backend, not the bytes
    digest = start(make_digest(subject="Café — news", intro="Ünïcödé."))
    assert sending.send_batch(digest.pk)["sent"] == 7
    assert smtp_server.marked_before == list(range(7))
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 7
    by_address = {s.email: s for s in subscribers}
    for recipients, content in smtp_server.received:
        message = parse(content)
        assert message["Subject"] == "Café — news"
        assert "Ünïcödé." in parts(message)[0]
        if recipients == ["reader@xn--bcher-kva.example"]:
            continue
        assert recipients == [message["To"]]
        assert_addressed_to(message, by_address[message["To"]])


@pytest.mark.django_db(transaction=True)
def test_over_smtp_a_refused_recipient_is_recorded_and_the_batch_goes_on(
    smtp_server, settings
):
    """A 550 for one address fails that row only; the others are sent."""
    settings.NEWSLETTER_MAX_ATTEMPTS = 5
    make_subscriber("reader0@example.com")
    refused = make_subscriber("refused@example.com")
    make_subscriber("reader1@example.com")

    async def handle_RCPT(server, session, envelope, address, options):
        if address == refused.email:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp_server.handle_RCPT = handle_RCPT
    digest = start(make_digest())
    counts = sending.send_batch(digest.pk)
    assert (counts["sent"], counts["failed"]) == (2, 1)
    row = Delivery.objects.get(subscriber=refused)
    assert row.status == Delivery.Status.FAILED
    assert "550" in row.last_error
    assert sorted(r for rs, _ in smtp_server.received for r in rs) == [
        "reader0@example.com",
        "reader1@example.com",
    ]


def test_message_objects_of_prebuilt_emails_read_like_messages():
    """message() of a prebuilt email: bytes per policy, headers on demand."""
    digest = make_digest()
    subscriber = make_subscriber("jane@example.com")
    html, text = emails.render_digest(digest)
    prebuilt, _ = emails.digest_message(
        digest, to=subscriber.email, subscriber_id=subscriber.pk, html=html, text=text
    )
    smtp = prebuilt.message(policy=policy.SMTP)
    default = prebuilt.message()
    assert smtp.as_bytes() == prebuilt.mime_bytes
    assert default.as_bytes() == prebuilt.mime_bytes.replace(b"\r\n", b"\n")
    assert default["To"] == "jane@example.com"
    assert default.get_content_type() == "multipart/alternative"
    assert str(default) == default.as_bytes().decode("ascii")
