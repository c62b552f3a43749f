"""Subscribers, digests and the delivery ledger (DESIGN §3).

Every write goes through ``newsletter.services``; these classes only hold the
data, its constraints and the queries that several callers share.
"""

from django.conf import settings
from django.db import connections, models, router
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from newsroom.models import insert_columns


class SubscriberQuerySet(models.QuerySet):
    def with_email(self, email):
        """The subscriber with this address, whatever its case (uses the index)."""
        return self.alias(email_lower=Lower("email")).filter(email_lower=email.lower())

    def confirmed(self):
        return self.filter(status=Subscriber.Status.CONFIRMED)

    def create_if_new(self, **fields):
        """``create(**fields)``, or ``None`` if the address is known (any case).

        One ``INSERT … ON CONFLICT (lower(email)) DO NOTHING``: no look-up
        first and no savepoint, for the write that spikes when a story with a
        signup box goes viral. An insert of the same address by a concurrent
        transaction is waited for; if that one commits, this returns ``None``.
        """
        subscriber = self.model(**fields)
        sql, params, db = self.insert_if_new(subscriber)
        with connections[db].cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        self.inserted(subscriber, row[0], db)
        return subscriber

    def insert_if_new(self, subscriber):
        """``create_if_new()``'s statement for the unsaved ``subscriber``:
        ``(sql, params, database alias)``, returning the new row's id (and
        no row when the address is known)."""
        opts = self.model._meta
        db = router.db_for_write(self.model)
        connection = connections[db]
        quote = connection.ops.quote_name
        fields = [field for field in opts.concrete_fields if not field.primary_key]
        columns, values = insert_columns(subscriber, fields, connection)
        sql = (
            # Names from the model, values as parameters.
            f"INSERT INTO {quote(opts.db_table)} ({columns}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(values))}) "
            # The conflict target is the unique index of Meta.constraints.
            f"ON CONFLICT ((lower({quote('email')}))) DO NOTHING "
            f"RETURNING {quote(opts.pk.column)}"
        )
        return sql, values, db

    @staticmethod
    def inserted(subscriber, pk, db):
        """Mark ``subscriber`` as the row ``insert_if_new()`` stored as ``pk``."""
        subscriber.pk = pk
        subscriber._state.adding = False
        subscriber._state.db = db


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained (marked as spam)"

    email = models.CharField(max_length=254)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING
    )
    # The consent record: when, from where and through which form the address
    # was given, and when its owner confirmed it.
    signed_up_at = models.DateTimeField("signed up at", default=timezone.now)
    signup_ip = models.GenericIPAddressField("signup IP", null=True, blank=True)
    signup_user_agent = models.CharField(
        "signup user agent", max_length=300, blank=True
    )
    source = models.CharField(
        max_length=100,
        blank=True,
        help_text="The form or channel the address came from "
        "(newsletter page, signup box on a page, import).",
    )
    consent_note = models.TextField(
        blank=True,
        help_text="For imported or hand-added addresses: how consent was obtained.",
    )
    confirmed_at = models.DateTimeField("confirmed at", null=True, blank=True)
    unsubscribed_at = models.DateTimeField("unsubscribed at", null=True, blank=True)
    bounced_at = models.DateTimeField("bounced or complained at", null=True, blank=True)
    bounce_reason = models.CharField(max_length=300, blank=True)
    # When the address was last sent a confirmation or an "already
    # subscribed" notice: at most one such email per address per interval.
    last_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["-signed_up_at", "-pk"]
        get_latest_by = "signed_up_at"
        constraints = [
            models.UniqueConstraint(
                Lower("email"), name="newsletter_subscriber_email_ci_unique"
            ),
        ]
        indexes = [
            # The digest snapshot walks confirmed subscribers in id order.
            models.Index(
                fields=["id"],
                condition=models.Q(status="confirmed"),
                name="newsletter_sub_confirmed_idx",
            ),
            models.Index(
                fields=["status", "-signed_up_at"], name="newsletter_sub_status_idx"
            ),
        ]

    def __str__(self):
        return self.email

    @property
    def is_confirmed(self):
        return self.status == self.Status.CONFIRMED


class Suppression(models.Model):
    """An erased address, kept only as a keyed hash so no import can bring it back."""

    email_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=100, default="erased")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.email_hash[:12]}… ({self.reason})"


class DigestQuerySet(models.QuerySet):
    def archived(self):
        """What the public archive shows: digests that have gone out."""
        return self.filter(
            status__in=[Digest.Status.SENDING, Digest.Status.SENT]
        ).order_by("-started_at", "-pk")


class Digest(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"

    subject = models.CharField(max_length=200)
    intro = models.TextField(
        blank=True,
        help_text="A few words from the editor above the stories. Plain text; "
        "a blank line starts a new paragraph.",
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    send_at = models.DateTimeField(
        "send at",
        null=True,
        blank=True,
        help_text="For “Schedule”: when the digest goes out.",
    )
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Rendered once, when sending starts: every worker sends the same email,
    # and only the unsubscribe link is filled in per subscriber.
    rendered_html = models.TextField(blank=True, editable=False)
    rendered_text = models.TextField(blank=True, editable=False)
    snapshot_done = models.BooleanField(default=False, editable=False)
    recipients_count = models.PositiveIntegerField(null=True, editable=False)
    sent_count = models.PositiveIntegerField(null=True, editable=False)
    failed_count = models.PositiveIntegerField(null=True, editable=False)
    skipped_count = models.PositiveIntegerField(null=True, editable=False)
    # Heartbeats of the sending machinery (see newsletter.sending).
    last_claim_at = models.DateTimeField(null=True, editable=False)
    watch_at = models.DateTimeField(null=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DigestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        get_latest_by = "started_at"
        permissions = [
            ("send_digest", "Can send, schedule and test-send newsletter digests"),
        ]

    def __str__(self):
        return self.subject

    def get_absolute_url(self):
        return reverse("newsletter:archive-detail", kwargs={"pk": self.pk})

    @property
    def is_editable(self):
        return self.status in (self.Status.DRAFT, self.Status.SCHEDULED)


class DigestItem(models.Model):
    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="items")
    article = models.ForeignKey(
        "articles.Article", on_delete=models.PROTECT, related_name="+"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["digest", "article"], name="newsletter_digestitem_unique"
            ),
        ]

    def __str__(self):
        return f"{self.position}. {self.article}"


class Delivery(models.Model):
    """One digest for one subscriber: the ledger that makes sending resumable."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (no longer subscribed)"

    digest = models.ForeignKey(
        Digest, on_delete=models.CASCADE, related_name="deliveries"
    )
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # Not claimable before this time: the lease of the worker that holds it,
    # or the backoff after a failed attempt.
    available_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["digest", "subscriber"], name="newsletter_delivery_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["digest", "status", "available_at"],
                name="newsletter_delivery_claim_idx",
            ),
            models.Index(fields=["claimed_by"], name="newsletter_delivery_lease_idx"),
            # The claim: a digest's pending rows in the order they are
            # claimed, so it reads only the rows it takes (no sort).
            models.Index(
                fields=["digest", "available_at", "id"],
                condition=models.Q(status="pending"),
                name="newsletter_dlv_pending_idx",
            ),
        ]

    def __str__(self):
        return f"{self.digest_id} → {self.subscriber_id} ({self.status})"
