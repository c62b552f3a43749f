"""Fixtures for the newsletter's tests."""

import re
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from newsletter import services
from newsletter.models import Subscriber


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()
    yield
    cache.clear()


def run_email_worker():
    """Run the newsletter's queued tasks in a real worker loop (transaction=True)."""
    call_command(
        "db_worker",
        batch=True,
        queue_name="email,digest",
        reload=False,
        startup_delay=False,
        interval=0,
        verbosity=0,
    )


def run_queued_tasks(limit=1000):
    """Run ready newsletter tasks in this thread, as a worker would, until none is left.

    Works inside a test's transaction; tasks queued for later (``run_after``)
    stay queued.
    """
    for _ in range(limit):
        result = (
            DBTaskResult.objects.ready()
            .filter(queue_name__in=["email", "digest"])
            .first()
        )
        if result is None:
            return
        result.delete()
        result.task.call(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
    raise AssertionError("Tasks keep queueing more tasks")


def make_subscriber(
    email="reader@example.com", status=Subscriber.Status.CONFIRMED, **fields
):
    return Subscriber.objects.create(email=email, status=status, **fields)


CONFIRM_LINK = re.compile(r"https?://\S+/newsletter/confirm/[^/\s]+/")


def confirm_path(message):
    """The path of the confirmation link in an email's text."""
    return urlsplit(CONFIRM_LINK.search(message.body).group(0)).path


def unsubscribe_path(subscriber):
    return f"/newsletter/unsubscribe/{services.unsubscribe_token(subscriber.pk)}/"
