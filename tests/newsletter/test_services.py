import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from newsletter import checks, services
from newsletter.models import Subscriber, Suppression
from tests.newsletter.conftest import make_subscriber, run_queued_tasks

pytestmark = pytest.mark.django_db

SIGNUP = {
    "ip": "203.0.113.5",
    "user_agent": "Mozilla/5.0 Test",
    "source": "newsletter page",
}


def queued_signup_emails():
    return DBTaskResult.objects.filter(task_path="newsletter.tasks.send_signup_email")


def test_normalize_strips_spaces_and_lowercases_the_domain_only():
    """An address is stored trimmed, with its domain in lower case."""
    assert services.normalize_email("  Jane.Doe@Example.COM ") == "Jane.Doe@example.com"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not-an-address",
        "jane@example.com\r\nBcc: victim@example.com",
        "jane@example.com\nX: y",
        "jane\x00@example.com",
        "a" * 245 + "@example.com",
        "jane@@example.com",
    ],
)
def test_invalid_addresses_are_refused(raw):
    """Malformed, over-long or header-injecting addresses are refused."""
    with pytest.raises(ValidationError):
        services.normalize_email(raw)


def test_addresses_up_to_254_characters_are_accepted():
    """254 characters is the limit, inclusive; 255 is refused."""
    email = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".io"
    assert len(email) == 254
    assert services.normalize_email(email) == email
    with pytest.raises(ValidationError):
        services.normalize_email("a" + email)


def test_new_signup_stores_the_consent_record_and_queues_a_confirmation():
    """A new address is pending, with its consent record and one queued email."""
    notice = services.subscribe(email="New@Example.com", **SIGNUP)
    subscriber = Subscriber.objects.get()
    assert notice == services.Notice.CONFIRM
    assert subscriber.email == "New@example.com"
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.signup_ip == "203.0.113.5"
    assert subscriber.signup_user_agent == "Mozilla/5.0 Test"
    assert subscriber.source == "newsletter page"
    assert subscriber.signed_up_at is not None
    assert subscriber.confirmed_at is None
    queued = queued_signup_emails().get()
    assert queued.args_kwargs["args"] == [subscriber.pk, "confirm"]


def test_case_variants_are_the_same_subscriber():
    """Signing up as JANE@EXAMPLE.COM after jane@example.com keeps one subscriber."""
    services.subscribe(email="jane@example.com", **SIGNUP)
    services.subscribe(email="JANE@EXAMPLE.COM", **SIGNUP)
    assert Subscriber.objects.count() == 1


def test_a_second_signup_within_the_interval_sends_no_second_email():
    """At most one confirmation email per address per few minutes."""
    services.subscribe(email="jane@example.com", **SIGNUP)
    assert services.subscribe(email="jane@example.com", **SIGNUP) is None
    assert queued_signup_emails().count() == 1


def test_a_second_signup_after_the_interval_sends_a_new_confirmation(settings):
    """Once the interval has passed, signing up again sends a new link."""
    services.subscribe(email="jane@example.com", **SIGNUP)
    Subscriber.objects.update(
        last_notified_at=timezone.now()
        - timedelta(seconds=settings.NEWSLETTER_NOTIFY_INTERVAL + 1)
    )
    assert (
        services.subscribe(email="jane@example.com", **SIGNUP)
        == services.Notice.CONFIRM
    )
    assert queued_signup_emails().count() == 2


def test_confirmed_address_gets_an_already_subscribed_email(mailoutbox):
    """A confirmed subscriber signing up again is told so by email."""
    make_subscriber("jane@example.com")
    services.subscribe(email="Jane@example.com", **SIGNUP)
    run_queued_tasks()
    assert len(mailoutbox) == 1
    assert "already subscribed" in mailoutbox[0].subject
    assert "/newsletter/confirm/" not in mailoutbox[0].body
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED


def test_unsubscribed_address_gets_a_confirmation_and_must_confirm_again(
    mailoutbox,
):
    """Re-subscribing needs the owner's confirmation, like a new signup."""
    make_subscriber("jane@example.com", status=Subscriber.Status.UNSUBSCRIBED)
    services.subscribe(email="jane@example.com", **SIGNUP)
    run_queued_tasks()
    assert "Confirm" in mailoutbox[0].subject
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED


def test_complained_address_is_never_written_to_again():
    """Someone who reported the newsletter as spam gets no email from a signup form."""
    make_subscriber("jane@example.com", status=Subscriber.Status.COMPLAINED)
    assert services.subscribe(email="jane@example.com", **SIGNUP) is None
    assert not queued_signup_emails().exists()


def test_no_email_is_queued_when_the_signup_transaction_rolls_back():
    """The confirmation task exists only if the subscriber row was committed."""

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        services.subscribe(email="jane@example.com", **SIGNUP)
        raise Boom
    assert not Subscriber.objects.exists()
    assert not queued_signup_emails().exists()


def test_confirmation_email_is_multipart_with_a_working_link(mailoutbox):
    """The confirmation email has text and HTML parts and a link to the confirm page."""
    services.subscribe(email="jane@example.com", **SIGNUP)
    run_queued_tasks()
    message = mailoutbox[0]
    assert message.to == ["jane@example.com"]
    assert message.alternatives[0].mimetype == "text/html"
    assert "Confirm my subscription" in message.alternatives[0].content
    assert "/newsletter/confirm/" in message.body


def test_confirm_token_expires_after_seven_days():
    """A confirmation link older than seven days no longer works."""
    subscriber = make_subscriber(status=Subscriber.Status.PENDING)
    token = services.confirm_token(subscriber)
    later = timezone.now() + timedelta(days=7, seconds=5)
    with (
        mock.patch("time.time", return_value=later.timestamp()),
        pytest.raises(services.TokenExpired),
    ):
        services.subscriber_for_confirm_token(token)
    almost = timezone.now() + timedelta(days=6, hours=23)
    with mock.patch("time.time", return_value=almost.timestamp()):
        assert services.subscriber_for_confirm_token(token) == subscriber


def test_unsubscribe_token_never_expires():
    """An unsubscribe link from an old newsletter still works years later."""
    subscriber = make_subscriber()
    token = services.unsubscribe_token(subscriber.pk)
    later = timezone.now() + timedelta(days=3650)
    with mock.patch("time.time", return_value=later.timestamp()):
        assert services.subscriber_for_unsubscribe_token(token) == subscriber


def test_forged_tokens_find_nobody():
    """A token with a wrong signature, or for another purpose, identifies no one."""
    subscriber = make_subscriber()
    confirm = services.confirm_token(subscriber)
    assert services.subscriber_for_unsubscribe_token(f"{subscriber.pk}:forged") is None
    assert services.subscriber_for_unsubscribe_token(confirm) is None
    assert (
        services.subscriber_for_confirm_token(services.unsubscribe_token(subscriber.pk))
        is None
    )


def test_bounce_and_complaint_stop_sending():
    """A bounce or complaint report marks the address so that no digest goes to it."""
    make_subscriber("bounce@example.com")
    make_subscriber("spam@example.com")
    assert (
        services.record_bounce(email="Bounce@EXAMPLE.com", reason="550 no such user")
        == 1
    )
    assert services.record_bounce(email="spam@example.com", complaint=True) == 1
    assert services.record_bounce(email="unknown@example.com") == 0
    statuses = dict(Subscriber.objects.values_list("email", "status"))
    assert statuses == {
        "bounce@example.com": Subscriber.Status.BOUNCED,
        "spam@example.com": Subscriber.Status.COMPLAINED,
    }
    assert not Subscriber.objects.confirmed().exists()


def test_erasure_keeps_only_a_hash_that_blocks_a_later_import():
    """An erased address is gone, and a later import cannot bring it back."""
    subscriber = make_subscriber("gone@example.com")
    services.erase_subscriber(subscriber)
    assert not Subscriber.objects.exists()
    assert "gone@example.com" not in Suppression.objects.get().email_hash
    result = services.import_subscribers(
        rows=["GONE@example.com", "new@example.com"],
        confirmed=True,
        consent_note="Paper form at the 2025 fair",
    )
    assert (result.created, result.suppressed) == (1, 1)
    assert list(Subscriber.objects.values_list("email", flat=True)) == [
        "new@example.com"
    ]


def test_import_confirms_only_with_a_consent_note():
    """Imported addresses are confirmed only together with a note on consent."""
    with pytest.raises(ValidationError):
        services.import_subscribers(rows=["a@example.com"], confirmed=True)
    result = services.import_subscribers(rows=["a@example.com", "bad address"])
    assert (result.created, result.invalid) == (1, 1)
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING


def test_bounce_command_marks_addresses_for_scripts():
    """Bounce-processing scripts can mark addresses from the command line."""
    make_subscriber("gone@example.com")
    out = io.StringIO()
    call_command(
        "newsletter_bounce", "gone@example.com", "nobody@example.com", stdout=out
    )
    assert "gone@example.com: marked bounced" in out.getvalue()
    assert "nobody@example.com: not a subscriber" in out.getvalue()
    assert Subscriber.objects.get().status == Subscriber.Status.BOUNCED


def test_deploy_check_warns_without_a_postal_address(settings):
    """`check --deploy` warns when the newsletter footer would lack a postal address."""
    settings.NEWSLETTER_POSTAL_ADDRESS = ""
    assert [m.id for m in checks.postal_address_check(None)] == ["newsletter.W001"]
    settings.NEWSLETTER_POSTAL_ADDRESS = "1 Main St"
    assert checks.postal_address_check(None) == []


def test_create_if_new_stores_a_new_address_and_refuses_a_known_one_in_any_case():
    """One INSERT for a new address; the same address in other case adds nothing."""
    created = Subscriber.objects.create_if_new(
        email="Ann@Example.com", source="signup box", signup_ip="192.0.2.7"
    )
    stored = Subscriber.objects.get()
    assert created.pk == stored.pk
    assert (stored.email, stored.source, stored.signup_ip) == (
        "Ann@Example.com",
        "signup box",
        "192.0.2.7",
    )
    assert stored.status == Subscriber.Status.PENDING
    assert stored.signed_up_at is not None and stored.updated_at is not None
    assert Subscriber.objects.create_if_new(email="ann@example.COM") is None
    assert Subscriber.objects.count() == 1


def test_a_signup_works_with_another_task_backend_too(settings, mailoutbox):
    """The one-statement signup is the project backend's; with any other
    (here Django's immediate one) the row and the task share a transaction."""
    settings.TASKS = {
        "default": {
            "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "email", "digest"],
        }
    }
    assert services.subscribe(email="jane@example.com", **SIGNUP) == (
        services.Notice.CONFIRM
    )
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING
    assert len(mailoutbox) == 1
    assert "Confirm" in mailoutbox[0].subject
    assert services.subscribe(email="Jane@example.com", **SIGNUP) is None
    assert Subscriber.objects.count() == 1
    assert len(mailoutbox) == 1
