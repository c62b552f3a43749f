"""Every write to the newsletter's data: signup, confirmation, unsubscribe,
bounces, imports, erasure and the digest's life cycle.

Views, the admin, tasks and commands call these functions and stay thin.
Sending itself (the delivery ledger) lives in ``newsletter.sending``.
"""

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.crypto import salted_hmac

from newsletter.models import Delivery, Digest, DigestItem, Subscriber, Suppression
from newsroom import ratelimit

CONFIRM_SALT = "newsletter.confirm"
UNSUBSCRIBE_SALT = "newsletter.unsubscribe"
SUPPRESSION_SALT = "newsletter.suppression"
CONFIRM_MAX_AGE = timedelta(days=7)
MAX_EMAIL_LENGTH = 254
SEND_PERMISSION = "newsletter.send_digest"

_validate_email = EmailValidator(message="Enter a valid email address.")


class Notice(StrEnum):
    """Which email a signup sends (if any)."""

    CONFIRM = "confirm"
    ALREADY_SUBSCRIBED = "already-subscribed"


# Addresses ------------------------------------------------------------------


def normalize_email(raw):
    """Return the address as stored, or raise ``ValidationError``.

    Surrounding spaces go and the domain is lower-cased (the local part is
    left alone: it is the mailbox owner's). Line breaks and NUL are refused
    outright, whatever the validator would say: they are how header
    injection starts.
    """
    raw = raw or ""
    if any(char in raw for char in "\r\n\x00"):
        raise ValidationError("Enter a valid email address.", code="invalid")
    email = raw.strip()
    if not email:
        raise ValidationError("Enter your email address.", code="required")
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValidationError(
            f"An email address has at most {MAX_EMAIL_LENGTH} characters.",
            code="max_length",
        )
    _validate_email(email)
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def suppression_hash(email):
    """A keyed hash of the address: matches a later import, reveals nothing."""
    return salted_hmac(
        SUPPRESSION_SALT, email.strip().lower(), algorithm="sha256"
    ).hexdigest()


# Tokens ---------------------------------------------------------------------


def confirm_token(subscriber):
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign(str(subscriber.pk))


def unsubscribe_token(subscriber_id):
    """The per-subscriber unsubscribe token; it never expires."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(subscriber_id))


class TokenExpired(Exception):
    pass


def subscriber_for_confirm_token(token):
    """The subscriber the link was sent to; ``None`` when forged or erased.

    Raise ``TokenExpired`` for a genuine link older than seven days.
    """
    signer = signing.TimestampSigner(salt=CONFIRM_SALT)
    try:
        pk = signer.unsign(token, max_age=CONFIRM_MAX_AGE)
    except signing.SignatureExpired:
        raise TokenExpired from None
    except signing.BadSignature:
        return None
    return Subscriber.objects.filter(pk=pk).first()


def subscriber_for_unsubscribe_token(token):
    try:
        pk = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return Subscriber.objects.filter(pk=pk).first()


# Rate limits ----------------------------------------------------------------


def signup_rate_limited(ip):
    return ratelimit.hit(
        "signup-ip",
        ip or "unknown",
        limit=settings.NEWSLETTER_SIGNUPS_PER_IP,
        window=settings.NEWSLETTER_SIGNUP_WINDOW,
    )


# Signup, confirmation, unsubscribe -------------------------------------------


def subscribe(*, email, ip, user_agent, source):
    """Record a signup and queue the right email, atomically.

    Returns the ``Notice`` queued, or ``None`` when no email goes out (the
    address had one a moment ago, or its owner marked us as spam). Callers
    show the same "check your inbox" page whatever the outcome, so that no
    one can learn whether an address is subscribed.

    Raises ``ValidationError`` for an invalid address.
    """
    email = normalize_email(email)
    consent = {
        "signed_up_at": timezone.now(),
        "signup_ip": ip or None,
        "signup_user_agent": (user_agent or "")[:300],
        "source": (source or "")[:100],
    }
    from newsletter import tasks  # tasks import services

    if _subscribe_new(
        tasks.send_signup_email,
        email=email,
        last_notified_at=timezone.now(),
        **consent,
    ):
        return Notice.CONFIRM
    with transaction.atomic():
        subscriber = Subscriber.objects.with_email(email).select_for_update().first()
        if subscriber is not None:
            notice = _notice_for_known(subscriber)
            if notice is None or _notified_recently(subscriber):
                return None
            if notice == Notice.CONFIRM:
                # The confirmation that follows is for this request.
                for field, value in consent.items():
                    setattr(subscriber, field, value)
            subscriber.last_notified_at = timezone.now()
            subscriber.save()
            # django-tasks-db writes the task row in this transaction: the
            # email is queued if and only if the subscriber row is committed.
            tasks.send_signup_email.enqueue(subscriber.pk, str(notice))
            return notice
    # Erased between the insert and the look-up: a new address after all.
    return subscribe(email=email, ip=ip, user_agent=user_agent, source=source)


def _subscribe_new(task, **fields):
    """Store a new address and queue its confirmation, atomically; False,
    storing nothing, when the address is known (in any case).

    With the project's task backend both rows are written by one statement
    (``DatabaseBackend.enqueue_on_insert()``): one round trip to PostgreSQL
    instead of four, for the write that spikes when a story with a signup
    box goes viral. With another backend, in one transaction. Concurrent
    signups for one address meet at its unique index: one inserts, the
    others insert nothing.
    """
    notice = str(Notice.CONFIRM)
    backend = task.get_backend()
    if hasattr(backend, "enqueue_on_insert"):
        insert = Subscriber.objects.insert_if_new(Subscriber(**fields))
        new_id, _ = backend.enqueue_on_insert(insert, task, [notice])
        return new_id is not None
    with transaction.atomic():
        subscriber = Subscriber.objects.create_if_new(**fields)
        if subscriber is None:
            return False
        task.enqueue(subscriber.pk, notice)
    return True


def _notice_for_known(subscriber):
    if subscriber.status == Subscriber.Status.CONFIRMED:
        return Notice.ALREADY_SUBSCRIBED
    if subscriber.status == Subscriber.Status.COMPLAINED:
        return None  # they reported us as spam: never write again unasked
    return Notice.CONFIRM


def _notified_recently(subscriber):
    if subscriber.last_notified_at is None:
        return False
    interval = timedelta(seconds=settings.NEWSLETTER_NOTIFY_INTERVAL)
    return subscriber.last_notified_at > timezone.now() - interval


@transaction.atomic
def confirm(subscriber):
    """Confirm the subscription (the POST behind the emailed link)."""
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if subscriber.status != Subscriber.Status.CONFIRMED:
        subscriber.status = Subscriber.Status.CONFIRMED
        subscriber.confirmed_at = timezone.now()
        subscriber.unsubscribed_at = None
        subscriber.save()
        # Their own confirmation outweighs an earlier erasure request.
        Suppression.objects.filter(
            email_hash=suppression_hash(subscriber.email)
        ).delete()
    return subscriber


def unsubscribe(subscriber):
    """Stop every newsletter to this subscriber, at once.

    Batches claimed from now on skip them (the claim reads the status).
    """
    Subscriber.objects.filter(pk=subscriber.pk).exclude(
        status=Subscriber.Status.UNSUBSCRIBED
    ).update(
        status=Subscriber.Status.UNSUBSCRIBED,
        unsubscribed_at=timezone.now(),
        updated_at=timezone.now(),
    )


def record_bounce(*, email, complaint=False, reason=""):
    """Mark an address bounced (or complained) so that nothing more is sent.

    For a bounce handler or an ESP webhook. Returns the number of
    subscribers changed (0 for an unknown address).
    """
    status = Subscriber.Status.COMPLAINED if complaint else Subscriber.Status.BOUNCED
    try:
        email = normalize_email(email)
    except ValidationError:
        return 0
    return mark_bounced(
        Subscriber.objects.with_email(email), status=status, reason=reason
    )


def mark_bounced(queryset, *, status=Subscriber.Status.BOUNCED, reason=""):
    now = timezone.now()
    return queryset.update(
        status=status, bounced_at=now, bounce_reason=reason[:300], updated_at=now
    )


# Admin: import, export, erasure ----------------------------------------------


@dataclass
class ImportResult:
    created: int = 0
    existing: int = 0
    suppressed: int = 0
    invalid: int = 0


CSV_FIELDS = [
    "email",
    "status",
    "signed_up_at",
    "signup_ip",
    "signup_user_agent",
    "source",
    "consent_note",
    "confirmed_at",
    "unsubscribed_at",
    "bounced_at",
    "bounce_reason",
]


def import_subscribers(*, rows, consent_note="", confirmed=False, source="import"):
    """Add addresses from an iterable of strings.

    Imported addresses are confirmed only together with a consent note
    saying how consent was given; otherwise they stay pending and no email
    is sent (the desk decides). Erased addresses (their hashes are in the
    suppression list) are never added, and existing subscribers are left
    as they are.
    """
    if confirmed and not consent_note.strip():
        raise ValidationError("Confirmed imports need a consent note.")
    result = ImportResult()
    now = timezone.now()
    status = Subscriber.Status.CONFIRMED if confirmed else Subscriber.Status.PENDING
    suppressed = set(Suppression.objects.values_list("email_hash", flat=True))
    for raw in rows:
        try:
            email = normalize_email(raw)
        except ValidationError:
            result.invalid += 1
            continue
        if suppression_hash(email) in suppressed:
            result.suppressed += 1
            continue
        created = Subscriber.objects.create_if_new(
            email=email,
            signed_up_at=now,
            source=source,
            consent_note=consent_note,
            status=status,
            confirmed_at=now if confirmed else None,
        )
        if created is not None:
            result.created += 1
        else:
            result.existing += 1  # existing subscribers keep their own record
    return result


def read_import_file(uploaded):
    """Addresses from an uploaded CSV (an ``email`` column) or plain list."""
    text = io.TextIOWrapper(uploaded, encoding="utf-8-sig", errors="replace")
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    columns = [name.strip().lower() for name in header]
    if "email" in columns:
        column = columns.index("email")
    else:
        column = 0
        yield header[0] if header else ""
    for row in reader:
        if len(row) > column:
            yield row[column]


def subscriber_data(subscriber):
    """Everything stored about one subscriber (a data-access request)."""
    data = {field: getattr(subscriber, field) for field in CSV_FIELDS}
    data = {
        key: value.isoformat() if hasattr(value, "isoformat") else value
        for key, value in data.items()
    }
    data["deliveries"] = [
        {
            "digest": delivery.digest.subject,
            "status": delivery.status,
            "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
        }
        for delivery in subscriber.deliveries.select_related("digest")
    ]
    return data


@transaction.atomic
def erase_subscriber(subscriber, *, reason="erased"):
    """Delete the subscriber and their delivery records; keep only a hash.

    The hash (keyed with the site's secret) lets imports refuse the address
    later without storing it.
    """
    Suppression.objects.get_or_create(
        email_hash=suppression_hash(subscriber.email), defaults={"reason": reason}
    )
    subscriber.delete()


# Digests -------------------------------------------------------------------


def can_send(user):
    return user.has_perm(SEND_PERMISSION)


def check_can_send(user):
    if not can_send(user):
        raise PermissionDenied("Only editors can send the newsletter.")


def last_sent_digest():
    return (
        Digest.objects.filter(status=Digest.Status.SENT, started_at__isnull=False)
        .order_by("-started_at")
        .first()
    )


def prefill_articles():
    """Featured stories published since the last digest went out, newest first."""
    from articles.selectors import featured_since

    last = last_sent_digest()
    return list(featured_since(last.started_at if last else None))


def schedule_digest(digest, *, user, send_at=None):
    """Send now (``send_at`` None or past) or at ``send_at``; no cron needed.

    The start task waits in the queue with ``run_after``; a watch task,
    queued in the same transaction, keeps the send going after crashes.
    """
    from newsletter import tasks

    check_can_send(user)
    now = timezone.now()
    send_at = max(send_at or now, now)
    with transaction.atomic():
        digest = Digest.objects.select_for_update().get(pk=digest.pk)
        if not digest.is_editable:
            raise ValidationError("This digest is already being sent.")
        if not digest.items.exists():
            raise ValidationError("Add at least one story before sending.")
        digest.status = Digest.Status.SCHEDULED
        digest.send_at = send_at
        digest.save(update_fields=["status", "send_at", "updated_at"])
        start = tasks.start_digest
        if send_at > now:
            start = start.using(run_after=send_at)
        start.enqueue(digest.pk, send_at.isoformat())
        tasks.watch_digest.using(
            run_after=send_at + timedelta(seconds=settings.NEWSLETTER_WATCH_SECONDS)
        ).enqueue(digest.pk)
    return digest


def cancel_schedule(digest, *, user):
    """Back to draft; the queued start task finds nothing to do."""
    check_can_send(user)
    return Digest.objects.filter(pk=digest.pk, status=Digest.Status.SCHEDULED).update(
        status=Digest.Status.DRAFT, updated_at=timezone.now()
    )


def set_digest_items(digest, articles):
    """Replace the digest's stories with ``articles``, in order."""
    with transaction.atomic():
        digest.items.all().delete()
        DigestItem.objects.bulk_create(
            DigestItem(digest=digest, article=article, position=position)
            for position, article in enumerate(articles, start=1)
        )


def delivery_counts(digest):
    """Deliveries per status, for the progress display."""
    counts = dict.fromkeys(Delivery.Status.values, 0)
    for row in (
        Delivery.objects.filter(digest=digest)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    ):
        counts[row[0]] = row[1]
    return counts


def send_test(digest, *, user):
    """Send the digest, as it stands, to the editor's own address."""
    from newsletter import emails

    check_can_send(user)
    if not user.email:
        raise ValidationError("Your account has no email address to send the test to.")
    html, text = emails.render_digest(digest)
    subscriber = Subscriber.objects.with_email(user.email).first()
    message, _ = emails.digest_message(
        digest,
        to=user.email,
        subscriber_id=subscriber.pk if subscriber else 0,
        html=html,
        text=text,
        subject_prefix="[Test] ",
    )
    message.send(using="default")
    return user.email
