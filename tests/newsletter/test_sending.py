"""The delivery ledger, one step at a time, in this process."""

import itertools
import smtplib
from datetime import timedelta
from unittest import mock

import pytest
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from newsletter import emails, sending, services
from newsletter.models import Delivery, Digest, Subscriber
from tests.factories import make_article
from tests.newsletter.conftest import make_subscriber, run_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def digest(settings):
    settings.NEWSLETTER_BATCH_SIZE = 3
    digest = Digest.objects.create(subject="Briefing")
    services.set_digest_items(digest, [make_article()])
    return digest


def start(digest, *subscribers):
    Digest.objects.filter(pk=digest.pk).update(
        status=Digest.Status.SCHEDULED, send_at=timezone.now()
    )
    sending.start(digest.pk)
    DBTaskResult.objects.all().delete()  # steps are run by hand below
    digest.refresh_from_db()
    return digest


def test_snapshot_makes_one_delivery_per_confirmed_subscriber_and_is_idempotent(digest):
    """One delivery per confirmed subscriber, however often the snapshot runs."""
    for n in range(7):
        make_subscriber(f"c{n}@example.com")
    make_subscriber("p@example.com", status=Subscriber.Status.PENDING)
    make_subscriber("b@example.com", status=Subscriber.Status.BOUNCED)
    digest = start(digest)
    assert digest.recipients_count == 7
    with mock.patch.object(sending, "SNAPSHOT_BATCH", 2):
        assert sending.snapshot(digest) == 7
    assert Delivery.objects.count() == 7
    assert not Delivery.objects.exclude(
        subscriber__status=Subscriber.Status.CONFIRMED
    ).exists()


def test_email_is_rendered_once_for_the_whole_send(digest, mailoutbox):
    """However many batches, the digest's HTML is rendered and inlined once."""
    for n in range(10):
        make_subscriber(f"c{n}@example.com")
    with mock.patch.object(emails, "inline_css", wraps=emails.inline_css) as inline:
        Digest.objects.filter(pk=digest.pk).update(
            status=Digest.Status.SCHEDULED, send_at=timezone.now()
        )
        sending.start(digest.pk)
        run_queued_tasks()
    assert inline.call_count == 1
    assert len(mailoutbox) == 10


def test_a_subscriber_who_unsubscribes_during_a_send_gets_nothing_from_later_batches(
    digest, mailoutbox
):
    """Unsubscribing mid-send is honoured by every batch claimed afterwards."""
    subscribers = [make_subscriber(f"c{n}@example.com") for n in range(9)]
    digest = start(digest)
    sending.send_batch(digest.pk)  # the first batch of three
    assert len(mailoutbox) == 3
    sent_to = {m.to[0] for m in mailoutbox}
    leaver = next(s for s in subscribers if s.email not in sent_to)
    services.unsubscribe(leaver)
    DBTaskResult.objects.all().delete()
    while (
        sending.send_batch(digest.pk)["claimed"]
        or Delivery.objects.filter(status=Delivery.Status.PENDING).exists()
    ):
        pass
    assert leaver.email not in {m.to[0] for m in mailoutbox}
    assert len(mailoutbox) == 8
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT
    assert (digest.sent_count, digest.skipped_count) == (8, 1)


def test_unsubscribe_within_a_claimed_batch_is_honoured_at_the_next_lease_renewal(
    digest, settings, mailoutbox
):
    """Inside a claimed batch, an unsubscribe seen at a lease renewal is honoured."""
    settings.NEWSLETTER_BATCH_SIZE = 10
    subscribers = [make_subscriber(f"c{n}@example.com") for n in range(3)]
    digest = start(digest)
    real_renew = sending._renew_lease

    def renew_after_unsubscribe(worker, ids):
        services.unsubscribe(subscribers[2])
        return real_renew(worker, ids)

    with (
        mock.patch.object(sending, "_renew_lease", renew_after_unsubscribe),
        mock.patch.object(sending, "time") as clock,
    ):
        clock.monotonic.side_effect = itertools.count(0, 1000)  # every message is late
        sending.send_batch(digest.pk)
    assert subscribers[2].email not in {m.to[0] for m in mailoutbox}
    assert len(mailoutbox) == 2
    assert (
        Delivery.objects.get(subscriber=subscribers[2]).status
        == Delivery.Status.SKIPPED
    )


def test_a_batch_leased_by_a_dead_worker_is_claimed_again_after_the_lease(
    digest, mailoutbox
):
    """Rows claimed by a worker that died are sent once the lease runs out."""
    for n in range(3):
        make_subscriber(f"c{n}@example.com")
    digest = start(digest)
    Delivery.objects.update(
        claimed_by="dead-worker", available_at=timezone.now() + timedelta(minutes=5)
    )
    assert sending.send_batch(digest.pk)["claimed"] == 0
    assert mailoutbox == []
    Delivery.objects.update(available_at=timezone.now() - timedelta(seconds=1))
    assert sending.send_batch(digest.pk)["claimed"] == 3
    assert len(mailoutbox) == 3
    assert Digest.objects.get().status == Digest.Status.SENT


def test_failed_messages_are_retried_with_backoff_then_given_up(
    digest, settings, mailoutbox
):
    """A temporary failure is retried with backoff up to the limit, then failed."""
    settings.NEWSLETTER_MAX_ATTEMPTS = 3
    settings.NEWSLETTER_RETRY_DELAY = 60
    make_subscriber("ok@example.com")
    flaky = make_subscriber("flaky@example.com")
    digest = start(digest)
    real_send = EmailBackend.send_messages

    def refuse_flaky(self, messages):
        if messages[0].to == [flaky.email]:
            raise smtplib.SMTPRecipientsRefused({flaky.email: (451, b"try later")})
        return real_send(self, messages)

    with mock.patch.object(EmailBackend, "send_messages", refuse_flaky):
        before = timezone.now()
        sending.send_batch(digest.pk)
        row = Delivery.objects.get(subscriber=flaky)
        assert (row.status, row.attempts) == (Delivery.Status.PENDING, 1)
        assert "451" in row.last_error
        assert row.available_at >= before + timedelta(seconds=60)
        assert sending.send_batch(digest.pk)["claimed"] == 0  # still backing off
        for attempts, delay in [(2, 120), (3, None)]:
            Delivery.objects.filter(pk=row.pk).update(available_at=timezone.now())
            before = timezone.now()
            sending.send_batch(digest.pk)
            row.refresh_from_db()
            assert row.attempts == attempts
            if delay:
                assert row.available_at >= before + timedelta(seconds=delay)
    assert row.status == Delivery.Status.FAILED
    digest.refresh_from_db()
    assert digest.status == Digest.Status.SENT
    assert (digest.sent_count, digest.failed_count) == (1, 1)
    assert [m.to for m in mailoutbox] == [["ok@example.com"]]


def test_a_permanent_refusal_is_not_retried(digest):
    """A 5xx refusal (no such mailbox) fails the delivery at once."""
    make_subscriber("nobody@example.com")
    digest = start(digest)
    with mock.patch.object(
        EmailBackend,
        "send_messages",
        side_effect=smtplib.SMTPRecipientsRefused({"nobody@example.com": (550, b"no")}),
    ):
        sending.send_batch(digest.pk)
    row = Delivery.objects.get()
    assert (row.status, row.attempts) == (Delivery.Status.FAILED, 1)


def test_the_watch_restarts_a_stalled_send_and_finishes_it(
    digest, settings, mailoutbox
):
    """When the batch chain died with a worker, the watch starts a new one."""
    settings.NEWSLETTER_WATCH_SECONDS = 10
    for n in range(4):
        make_subscriber(f"c{n}@example.com")
    digest = start(digest)
    Delivery.objects.update(
        claimed_by="dead", available_at=timezone.now() - timedelta(seconds=1)
    )
    Digest.objects.filter(pk=digest.pk).update(
        last_claim_at=timezone.now() - timedelta(minutes=1)
    )
    assert sending.watch(digest.pk) == "restarted batches"
    assert DBTaskResult.objects.filter(
        task_path="newsletter.tasks.watch_digest"
    ).exists()
    run_queued_tasks()
    assert len(mailoutbox) == 4
    assert sending.watch(digest.pk) == "stopped"


def test_a_dead_watch_is_revived_by_the_next_batch(digest, settings):
    """If the watch chain was lost, the next batch task starts a new one."""
    settings.NEWSLETTER_WATCH_SECONDS = 10
    make_subscriber()
    digest = start(digest)
    Digest.objects.filter(pk=digest.pk).update(
        watch_at=timezone.now() - timedelta(minutes=5)
    )
    sending.send_batch(digest.pk)
    assert (
        DBTaskResult.objects.filter(task_path="newsletter.tasks.watch_digest").count()
        == 1
    )
