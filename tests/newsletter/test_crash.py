"""Real workers, a real SMTP server, and SIGKILL: the ledger loses nothing.

The digest is sent by ``manage.py db_worker`` processes (the production
command) to an aiosmtpd server started here, which counts messages per
recipient. The workers use this test's database.
"""

import email
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from newsletter import services
from newsletter.models import Delivery, Digest, Subscriber
from tests.factories import make_article

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(settings.BASE_DIR)
SITE_URL = "https://news.example.com"
POSTAL_ADDRESS = "12 Press Row, Springfield"
LEASE_SECONDS = 8  # long enough for a worker starved of CPU by a busy machine
WATCH_SECONDS = 1


class CountingHandler:
    """Counts accepted messages per recipient; keeps a few to read."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = Counter()
        self.samples = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.received[recipient.lower()] += 1
            if len(self.samples) < 3:
                self.samples.append(envelope.content)
        return "250 Message accepted for delivery"

    @property
    def total(self):
        with self.lock:
            return sum(self.received.values())


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture
def workers(smtp_server, settings, tmp_path):
    """Start and kill ``manage.py db_worker`` processes on this test's database."""
    settings.NEWSLETTER_LEASE_SECONDS = LEASE_SECONDS
    settings.NEWSLETTER_WATCH_SECONDS = WATCH_SECONDS
    settings.SITE_URL = SITE_URL
    controller, _ = smtp_server
    database_url = urlsplit(os.environ["DATABASE_URL"])
    database_url = database_url._replace(path="/" + connection.settings_dict["NAME"])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsroom.settings",
        "DATABASE_URL": database_url.geturl(),
        "DEBUG": "true",
        "SECRET_KEY": settings.SECRET_KEY,
        "SITE_URL": SITE_URL,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": controller.hostname,
        "EMAIL_PORT": str(controller.port),
        "EMAIL_TIMEOUT": "10",
        "NEWSLETTER_POSTAL_ADDRESS": POSTAL_ADDRESS,
        "NEWSLETTER_LEASE_SECONDS": str(LEASE_SECONDS),
        "NEWSLETTER_WATCH_SECONDS": str(WATCH_SECONDS),
        "NEWSLETTER_RETRY_DELAY": "1",
        "NEWSLETTER_BATCH_SIZE": "100",
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    processes = []

    def start():
        log = (tmp_path / f"worker-{len(processes)}.log").open("w")
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--queue-name=digest",
                "--no-reload",
                "--no-startup-delay",
                "--interval=0.05",
                "--verbosity=1",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def make_audience(confirmed, *, unsubscribed=0, pending=0):
    now = timezone.now()
    rows = [
        Subscriber(email=f"reader{n}@example.com", status="confirmed", confirmed_at=now)
        for n in range(confirmed)
    ]
    rows += [
        Subscriber(
            email=f"left{n}@example.com", status="unsubscribed", unsubscribed_at=now
        )
        for n in range(unsubscribed)
    ]
    rows += [Subscriber(email=f"waiting{n}@example.com") for n in range(pending)]
    Subscriber.objects.bulk_create(rows, batch_size=2000)


def send_digest(stories):
    digest = Digest.objects.create(subject="Crash-proof briefing", intro="Hello.")
    services.set_digest_items(digest, stories)
    # A superuser: the groups made by migrations are gone after a flush.
    editor, _ = get_user_model().objects.get_or_create(
        username="desk", defaults={"is_staff": True, "is_superuser": True}
    )
    services.schedule_digest(digest, user=editor)
    return digest


def wait_until(condition, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def digest_status(digest):
    return Digest.objects.values_list("status", flat=True).get(pk=digest.pk)


def unsubscribe_unclaimed(digest, count):
    """Unsubscribe people whose delivery is not claimed yet (rows locked meanwhile)."""
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(
                digest=digest, status=Delivery.Status.PENDING, claimed_by=""
            )
            .select_for_update(skip_locked=True)
            .order_by("-pk")
            .values_list("subscriber_id", flat=True)[:count]
        )
        for subscriber in Subscriber.objects.filter(pk__in=rows):
            services.unsubscribe(subscriber)
    return set(Subscriber.objects.filter(pk__in=rows).values_list("email", flat=True))


def report(digest, server, tmp_path):
    """What went wrong: the ledger, the mail server's count and the workers' logs."""
    statuses = Counter(
        Delivery.objects.filter(digest=digest).values_list("status", flat=True)
    )
    duplicates = {r: n for r, n in server.received.items() if n > 1}
    logs = "".join(
        f"--- {log.name}\n" + "".join(log.read_text().splitlines(True)[-15:])
        for log in sorted(tmp_path.glob("worker-*.log"))
    )
    return (
        f"digest {digest_status(digest)}, deliveries {dict(statuses)}, "
        f"received {server.total}, duplicates {duplicates}\n{logs}"
    )


def test_digest_survives_workers_killed_at_random_moments(
    smtp_server, workers, tmp_path
):
    """Workers SIGKILLed 6 times: all 5,000 get it, no leaver does, dupes ≤ kills."""
    _, server = smtp_server
    make_audience(5000, unsubscribed=40, pending=20)
    stories = [make_article(headline=f"Story {n}", dek=f"Dek {n}.") for n in range(3)]
    digest = send_digest(stories)
    rng = random.Random(58)
    kills = 0
    left_during_send = set()
    running = [workers(), workers()]
    # Six kills spread over the send, each at a random moment of a worker's work.
    for threshold in sorted(rng.sample(range(50, 4500), 6)):
        stalled = not wait_until(lambda t=threshold: server.total >= t, timeout=120)
        assert not stalled, report(digest, server, tmp_path)
        time.sleep(rng.uniform(0, 0.2))
        victim = running.pop(rng.randrange(len(running)))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        kills += 1
        if kills == 2:
            left_during_send = unsubscribe_unclaimed(digest, 25)
        running.append(workers())
    assert digest_status(digest) == Digest.Status.SENDING, "killed too late to matter"
    done = wait_until(lambda: digest_status(digest) == Digest.Status.SENT, timeout=180)
    assert done, report(digest, server, tmp_path)

    confirmed = set(Subscriber.objects.confirmed().values_list("email", flat=True))
    received = server.received
    assert len(confirmed) == 5000 - len(left_during_send)
    assert confirmed <= set(received), "someone confirmed got nothing"
    assert not any(email.startswith(("left", "waiting")) for email in received)
    assert not left_during_send & set(received)
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates <= kills, report(digest, server, tmp_path)
    digest.refresh_from_db()
    assert digest.sent_count == len(confirmed)
    assert digest.skipped_count == len(left_during_send)

    message = email.message_from_bytes(server.samples[0], policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    https, mailto = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert https.startswith(f"{SITE_URL}/newsletter/unsubscribe/")
    assert mailto.startswith("mailto:")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = https.rstrip("/").rsplit("/", 1)[1]
    recipient = services.subscriber_for_unsubscribe_token(token)
    assert recipient.email == message["To"]
    assert POSTAL_ADDRESS in plain and POSTAL_ADDRESS in html
    for story in stories:
        link = f"{SITE_URL}{story.get_absolute_url()}"
        assert link in plain and f'href="{link}"' in html


def test_two_workers_on_one_digest_send_each_message_once(
    smtp_server, workers, tmp_path
):
    """Two workers sending one digest at the same time never send anyone two copies."""
    _, server = smtp_server
    make_audience(1000, unsubscribed=10)
    digest = send_digest([make_article()])
    workers()
    workers()
    done = wait_until(lambda: digest_status(digest) == Digest.Status.SENT, timeout=180)
    assert done, report(digest, server, tmp_path)
    assert len(server.received) == 1000
    assert set(server.received.values()) == {1}
    claimed_by = set(Delivery.objects.values_list("claimed_by", flat=True))
    assert len(claimed_by) > 2  # many batches, shared by both workers
