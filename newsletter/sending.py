"""Sending a digest by the ledger (DESIGN §4).

1. ``start``: in one transaction, render the email once (stored on the
   digest), create one ``Delivery`` per confirmed subscriber with
   ``INSERT … SELECT`` in batches (no row passes through Python), and queue
   the first batch tasks (``BATCH_CHAINS`` of them).
2. ``send_batch``: in one short transaction, claim up to
   ``NEWSLETTER_BATCH_SIZE`` pending deliveries with ``SELECT … FOR UPDATE
   SKIP LOCKED`` (in the order of a partial index on pending rows, so the
   claim reads only the rows it takes), lease them (``available_at`` moves
   to the lease's end), mark those whose subscriber is no longer confirmed
   as skipped, and queue the next batch task. Then build the email's MIME
   once (``emails.DigestMail``) and send over one connection, each message
   being that with its subscriber's headers and link filled in, marking each
   row sent (with its Message-ID, one UPDATE) right after its message is
   accepted. The lease is renewed while sending, and subscribers who
   unsubscribed since the claim are skipped at each renewal.
3. ``watch``: every ``NEWSLETTER_WATCH_SECONDS`` while a digest is
   scheduled or sending, queue its successor first, then restart whatever
   stalled — a start task or a batch chain lost with a killed worker (its
   task stays "running" for ever in django-tasks-db) — and mark the digest
   sent when no delivery is pending.

A worker killed mid-batch leaves its rows leased; they become claimable
again when the lease ends. Only the message in flight at the kill can go
out twice; none is skipped. A failed message is retried with exponential
backoff, up to ``NEWSLETTER_MAX_ATTEMPTS``; a permanent refusal (5xx) is not
retried.
"""

import contextlib
import logging
import secrets
import select
import smtplib
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import mailers
from django.core.mail.backends import smtp
from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Now
from django.utils import timezone
from psycopg import pq

from newsletter import emails, services
from newsletter.models import Delivery, Digest, Subscriber

logger = logging.getLogger(__name__)

SNAPSHOT_BATCH = 10_000
# Batch tasks queued when a send starts. Each batch task queues the next as
# soon as it has claimed its rows, so one chain already keeps every worker
# busy; a second keeps a task waiting for a worker that finishes its batch
# while another is between taking the queued task and queuing the next (it
# would otherwise find the queue empty and sleep for db_worker's --interval).
BATCH_CHAINS = 2
PENDING = Delivery.Status.PENDING
CONFIRMED = Subscriber.Status.CONFIRMED


def _lease_end():
    return Now() + timedelta(seconds=settings.NEWSLETTER_LEASE_SECONDS)


# 1. Start ---------------------------------------------------------------------


def start(digest_id, expected_send_at=None):
    """Render the digest and snapshot its recipients. Safe to run twice."""
    from newsletter import tasks

    now = timezone.now()
    with transaction.atomic():
        digest = Digest.objects.select_for_update().filter(pk=digest_id).first()
        if digest is None:
            return "gone"
        if digest.status == Digest.Status.SCHEDULED:
            if expected_send_at and digest.send_at != datetime.fromisoformat(
                expected_send_at
            ):
                return "rescheduled"  # a newer start task is queued
            if digest.send_at and digest.send_at > now:
                return "too early"
        elif digest.status != Digest.Status.SENDING or digest.snapshot_done:
            return "nothing to do"
        digest.status = Digest.Status.SENDING
        digest.started_at = digest.started_at or now
        digest.rendered_html, digest.rendered_text = emails.render_digest(digest)
        digest.recipients_count = snapshot(digest)
        digest.snapshot_done = True
        digest.watch_at = now
        digest.save()
        for _ in range(BATCH_CHAINS):
            tasks.send_digest_batch.enqueue(digest.pk)
    logger.info("Digest %s: %s recipients", digest_id, digest.recipients_count)
    return digest.recipients_count


def snapshot(digest):
    """One pending delivery per confirmed subscriber, in SQL, batch by batch."""
    quote = connection.ops.quote_name
    subscribers, deliveries = (
        quote(Subscriber._meta.db_table),
        quote(Delivery._meta.db_table),
    )
    sql = f"""
        WITH batch AS (
            SELECT id FROM {subscribers}
            WHERE status = %s AND id > %s ORDER BY id LIMIT %s
        ), inserted AS (
            INSERT INTO {deliveries} (digest_id, subscriber_id, status, attempts,
                available_at, claimed_by, last_error, message_id)
            SELECT %s, id, %s, 0, now(), '', '', '' FROM batch
            ON CONFLICT (digest_id, subscriber_id) DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT max(id) FROM batch), (SELECT count(*) FROM inserted)
    """  # noqa: S608 (table names come from the models)
    last_id = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                sql, [CONFIRMED, last_id, SNAPSHOT_BATCH, digest.pk, PENDING]
            )
            batch_last_id, _ = cursor.fetchone()
            if batch_last_id is None:
                break
            last_id = batch_last_id
        # Statistics that know these rows (counted though not yet committed):
        # planned from older ones, the claim took the digest's every row by
        # its foreign key and sorted them all, for each batch, until the next
        # autovacuum came by.
        cursor.execute(f"ANALYZE {deliveries}")
    return Delivery.objects.filter(digest=digest).count()


# 2. Batches -------------------------------------------------------------------


def send_batch(digest_id):
    """Claim one batch, queue the next, send this one. Returns counts."""
    from newsletter import tasks

    digest = Digest.objects.filter(pk=digest_id).first()
    if digest is None or digest.status != Digest.Status.SENDING:
        return {"claimed": 0}
    worker = secrets.token_hex(16)
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(
                digest_id=digest_id, status=PENDING, available_at__lte=Now()
            )
            .order_by("available_at", "pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list(
                "pk",
                "subscriber_id",
                "subscriber__email",
                "subscriber__status",
                "attempts",
            )[: settings.NEWSLETTER_BATCH_SIZE]
        )
        skipped = [row[0] for row in rows if row[3] != CONFIRMED]
        claimed = [row for row in rows if row[3] == CONFIRMED]
        if skipped:
            Delivery.objects.filter(pk__in=skipped).update(
                status=Delivery.Status.SKIPPED, claimed_by=worker, claimed_at=Now()
            )
        if claimed:
            Delivery.objects.filter(pk__in=[row[0] for row in claimed]).update(
                claimed_by=worker, claimed_at=Now(), available_at=_lease_end()
            )
        if rows:
            Digest.objects.filter(pk=digest_id).update(last_claim_at=Now())
            # Committed with the claim: the chain survives this worker's death.
            tasks.send_digest_batch.enqueue(digest_id)
        _revive_watch(digest_id)
    counts = _deliver(digest, claimed, worker) if claimed else {}
    finish_if_done(digest_id)
    return {"claimed": len(claimed), "skipped": len(skipped), **counts}


def _deliver(digest, claimed, worker):
    """Send the claimed messages over one connection."""
    renew_every = max(settings.NEWSLETTER_LEASE_SECONDS / 3, 0.5)
    renewed = time.monotonic()
    remaining = {row[0] for row in claimed}
    counts = {"sent": 0, "failed": 0}
    mailer = mailers.default
    try:
        mailer.open()
    except Exception as error:  # the server is down: every row waits and retries
        for delivery_id, *_, attempts in claimed:
            _record_failure(delivery_id, worker, attempts, error)
        counts["failed"] = len(claimed)
        return counts
    marks = None
    try:
        # The email's MIME is built once for the batch; each message only
        # fills in its subscriber's headers and unsubscribe link.
        mail = emails.DigestMail(
            digest, html=digest.rendered_html, text=digest.rendered_text
        )
        send = _sender(mailer)
        marks = _SentMarks(worker)
        for delivery_id, subscriber_id, email, _, attempts in claimed:
            if time.monotonic() - renewed > renew_every:
                marks.settle()
                remaining = _renew_lease(worker, remaining)
                renewed = time.monotonic()
            if delivery_id not in remaining:
                continue
            message, message_id = mail.message(to=email, subscriber_id=subscriber_id)
            try:
                send(message, before_commit=marks.settle)
            except DatabaseError:  # marking the previous one: not this message's
                raise
            except Exception as error:
                marks.settle()
                logger.warning(
                    "Digest %s to subscriber %s: %s", digest.pk, subscriber_id, error
                )
                _record_failure(delivery_id, worker, attempts, error)
                counts["failed"] += 1
                _reconnect(mailer)
                continue
            marks.add(delivery_id, message_id)
            remaining.discard(delivery_id)
            counts["sent"] += 1
        marks.settle()
    finally:
        if marks and marks.in_flight:  # an error is on its way out already
            with contextlib.suppress(Exception):
                marks.settle()
        # The messages are sent; a failed QUIT changes nothing.
        with contextlib.suppress(Exception):
            mailer.close()
    return counts


class _SentMarks:
    """Marks each accepted message's row sent, without waiting for the answer.

    One UPDATE per message, on this worker's database connection, sent as
    soon as the SMTP server has accepted the message. Its answer is read
    (``settle``) before the next message is handed over for good, and before
    the connection is used for anything else: so at most one accepted
    message is unmarked at any moment — the one a worker killed then sends
    again, as when each UPDATE was waited for — while the database's round
    trip overlaps the next message's MAIL and RCPT.
    """

    def __init__(self, worker):
        connection.ensure_connection()
        self.pgconn = connection.connection.pgconn
        self.worker = worker.encode()
        self.in_flight = False

    def add(self, delivery_id, message_id):
        self.settle()
        self.pgconn.send_query_params(
            MARK_SENT, [message_id.encode(), str(delivery_id).encode(), self.worker]
        )
        while self.pgconn.flush():  # a non-blocking connection: wait to write
            select.select([], [self.pgconn.socket], [])
        self.in_flight = True

    def settle(self):
        if not self.in_flight:
            return
        self.in_flight = False
        errors = []
        while (result := self.pgconn.get_result()) is not None:
            if result.status != pq.ExecStatus.COMMAND_OK:
                errors.append(result.error_message.decode(errors="replace"))
        if errors:
            raise DatabaseError(f"marking a delivery sent: {'; '.join(errors)}")


# One statement, no ORM: it runs once per message.
MARK_SENT = f"""
    UPDATE {connection.ops.quote_name(Delivery._meta.db_table)}
    SET status = '{Delivery.Status.SENT}', sent_at = now(), message_id = $1,
        attempts = attempts + 1, last_error = ''
    WHERE id = $2 AND claimed_by = $3
""".encode()  # noqa: S608 (the table name and status come from the model)


def _sender(mailer):
    """``send(message, before_commit)``: send one message with this mailer.

    ``before_commit`` is called before the message is handed over for good.
    With Django's SMTP backend, a message whose bytes are built already goes
    straight to the backend's SMTP connection (``_smtp_send``), without the
    backend parsing both addresses again (the recipient is a plain address:
    ``emails.SIMPLE_ADDRESS``). Anything else goes through ``send_messages``.
    """
    senders = {}

    def send(message, before_commit):
        smtp_connection = getattr(mailer, "connection", None)
        if (
            not isinstance(mailer, smtp.EmailBackend)
            or smtp_connection is None
            or not isinstance(message, emails.PrebuiltEmail)
        ):
            before_commit()
            mailer.send_messages([message])
            return
        if message.from_email not in senders:
            senders[message.from_email] = mailer.prep_address(message.from_email)
        _smtp_send(
            smtp_connection,
            senders[message.from_email],
            message.to,
            message.mime_bytes,
            before_commit,
        )

    return send


def _smtp_send(smtp_connection, sender, recipients, data, before_commit):
    """``smtplib.SMTP.sendmail``, calling ``before_commit()`` before DATA."""
    smtp_connection.ehlo_or_helo_if_needed()
    options = []
    if smtp_connection.does_esmtp and smtp_connection.has_extn("size"):
        options.append(f"size={len(data)}")
    code, response = smtp_connection.mail(sender, options)
    if code != 250:
        _abandon(smtp_connection, code)
        raise smtplib.SMTPSenderRefused(code, response, sender)
    refused = {}
    for recipient in recipients:
        code, response = smtp_connection.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, response)
        if code == 421:
            break
    if len(refused) == len(recipients):
        _abandon(smtp_connection, code)
        raise smtplib.SMTPRecipientsRefused(refused)
    before_commit()
    code, response = smtp_connection.data(data)
    if code != 250:
        _abandon(smtp_connection, code)
        raise smtplib.SMTPDataError(code, response)


def _abandon(smtp_connection, code):
    """As smtplib does after a refusal: reset the transaction, or close."""
    if code == 421:
        smtp_connection.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp_connection.rset()


def _renew_lease(worker, ids):
    """Extend our lease; return the ids still ours and still subscribed."""
    mine = Delivery.objects.filter(pk__in=ids, claimed_by=worker, status=PENDING)
    mine.exclude(subscriber__status=CONFIRMED).update(status=Delivery.Status.SKIPPED)
    mine.update(available_at=_lease_end())
    return set(mine.values_list("pk", flat=True))


def _record_failure(delivery_id, worker, attempts, error):
    attempts += 1
    give_up = _is_permanent(error) or attempts >= settings.NEWSLETTER_MAX_ATTEMPTS
    backoff = settings.NEWSLETTER_RETRY_DELAY * 2 ** (attempts - 1)
    Delivery.objects.filter(pk=delivery_id, claimed_by=worker).update(
        status=Delivery.Status.FAILED if give_up else PENDING,
        attempts=attempts,
        last_error=f"{type(error).__name__}: {error}"[:2000],
        available_at=Now() + timedelta(seconds=backoff),
        claimed_by="" if not give_up else worker,
    )


def _is_permanent(error):
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def _reconnect(mailer):
    """After an error the connection may be broken: start a fresh one."""
    with contextlib.suppress(Exception):
        mailer.close()
    with contextlib.suppress(Exception):  # if not, the next send records it
        mailer.open()


def finish_if_done(digest_id):
    """Mark the digest sent, with its final counts, once nothing is pending."""
    if Delivery.objects.filter(digest_id=digest_id, status=PENDING).exists():
        return False
    with transaction.atomic():
        digest = Digest.objects.select_for_update().filter(pk=digest_id).first()
        if (
            digest is None
            or digest.status != Digest.Status.SENDING
            or not digest.snapshot_done
        ):
            return digest is not None and digest.status == Digest.Status.SENT
        if Delivery.objects.filter(digest_id=digest_id, status=PENDING).exists():
            return False
        counts = services.delivery_counts(digest)
        digest.sent_count = counts[Delivery.Status.SENT]
        digest.failed_count = counts[Delivery.Status.FAILED]
        digest.skipped_count = counts[Delivery.Status.SKIPPED]
        digest.status = Digest.Status.SENT
        digest.finished_at = timezone.now()
        digest.save()
    logger.info("Digest %s sent: %s", digest_id, counts)
    return True


# 3. Watch ---------------------------------------------------------------------


def watch(digest_id):
    """Keep a scheduled or sending digest moving; re-queues itself until sent."""
    from newsletter import tasks

    interval = timedelta(seconds=settings.NEWSLETTER_WATCH_SECONDS)
    status = (
        Digest.objects.filter(pk=digest_id).values_list("status", flat=True).first()
    )
    if status not in (Digest.Status.SCHEDULED, Digest.Status.SENDING):
        return "stopped"
    now = timezone.now()
    tasks.watch_digest.using(run_after=now + interval).enqueue(digest_id)
    Digest.objects.filter(pk=digest_id).update(watch_at=Now())
    digest = Digest.objects.get(pk=digest_id)
    stale = now - interval
    if digest.status == Digest.Status.SCHEDULED:
        if digest.send_at and digest.send_at <= stale:
            tasks.start_digest.enqueue(digest_id, None)
            return "restarted start"
        return "waiting"
    if finish_if_done(digest_id):
        return "sent"
    claimable = Delivery.objects.filter(
        digest_id=digest_id, status=PENDING, available_at__lte=Now()
    ).exists()
    if claimable and (digest.last_claim_at is None or digest.last_claim_at <= stale):
        tasks.send_digest_batch.enqueue(digest_id)
        return "restarted batches"
    return "sending"


def _revive_watch(digest_id):
    """If the watch chain died (killed at its very start), begin a new one."""
    from newsletter import tasks

    seconds = settings.NEWSLETTER_WATCH_SECONDS
    overdue = timezone.now() - timedelta(seconds=3 * seconds)
    if Digest.objects.filter(pk=digest_id, watch_at__lt=overdue).update(watch_at=Now()):
        tasks.watch_digest.using(
            run_after=timezone.now() + timedelta(seconds=seconds)
        ).enqueue(digest_id)
