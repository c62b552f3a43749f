"""Background tasks (Django's Tasks framework, django-tasks-db backend).

Signup emails run on the "email" queue and digests on the "digest" queue,
so that workers for each can be sized apart and a confirmation never waits
behind a big send. Arguments are ids, never addresses, so that erasing a
subscriber leaves no copy of the address in the task table.
"""

from django.tasks import task

from newsletter import emails, sending
from newsletter.models import Subscriber
from newsletter.services import Notice

EMAIL_QUEUE = "email"
DIGEST_QUEUE = "digest"


@task(queue_name=EMAIL_QUEUE, priority=10)
def send_signup_email(subscriber_id, notice):
    """The confirmation email, or the "you're already subscribed" one."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or subscriber.status == Subscriber.Status.COMPLAINED:
        return "not sent"
    emails.signup_message(subscriber, Notice(notice)).send(using="default")
    return "sent"


@task(queue_name=DIGEST_QUEUE)
def start_digest(digest_id, expected_send_at=None):
    """Render the digest once and create its deliveries."""
    return sending.start(digest_id, expected_send_at)


@task(queue_name=DIGEST_QUEUE)
def send_digest_batch(digest_id):
    """Claim and send one batch of a digest's deliveries."""
    return sending.send_batch(digest_id)


@task(queue_name=DIGEST_QUEUE)
def watch_digest(digest_id):
    """Restart a stalled send; finish the digest when nothing is pending."""
    return sending.watch(digest_id)
