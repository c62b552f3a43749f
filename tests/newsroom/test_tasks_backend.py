"""The task backend (newsroom.tasks_backend): django-tasks-db's, making an
enqueued task's result once."""

import pytest
from django.tasks import TaskResultStatus, task_backends
from django.tasks.signals import task_enqueued
from django_tasks_db.models import DBTaskResult

from newsletter.models import Subscriber
from newsletter.tasks import send_signup_email
from newsroom.tasks_backend import DatabaseBackend

pytestmark = pytest.mark.django_db


def test_an_enqueued_task_is_its_row_and_the_signal_sees_the_same_result():
    subscriber = Subscriber.objects.create(email="reader@example.org")
    seen = []

    def receiver(sender, task_result, **kwargs):
        seen.append(task_result)

    task_enqueued.connect(receiver)
    try:
        result = send_signup_email.enqueue(subscriber.pk, "confirm")
    finally:
        task_enqueued.disconnect(receiver)

    backend = task_backends["default"]
    assert isinstance(backend, DatabaseBackend)
    assert seen == [result] and seen[0] is result
    row = DBTaskResult.objects.get()
    assert result.id == str(row.id)
    assert result.status == TaskResultStatus.READY
    assert result.task.module_path == row.task_path == send_signup_email.module_path
    assert result.task.queue_name == row.queue_name == send_signup_email.queue_name
    assert result.args == [subscriber.pk, "confirm"] == row.args_kwargs["args"]
    assert backend.get_result(result.id).id == result.id
