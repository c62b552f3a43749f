"""The task backend (newsroom.tasks_backend): django-tasks-db's, making an
enqueued task's result once, and enqueuing a task in its row's INSERT."""

import pytest
from django.db import IntegrityError, connection
from django.db.models.signals import pre_save
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


def enqueue_on_insert(email, *args):
    subscriber = Subscriber(email=email)
    return task_backends["default"].enqueue_on_insert(
        Subscriber.objects.insert_if_new(subscriber), send_signup_email, args
    )


def test_a_task_enqueued_on_insert_is_the_row_enqueue_writes_for_the_new_row():
    seen = []

    def receiver(sender, task_result, **kwargs):
        seen.append(task_result)

    task_enqueued.connect(receiver)
    try:
        new_id, result = enqueue_on_insert("reader@example.org", "confirm")
    finally:
        task_enqueued.disconnect(receiver)

    subscriber = Subscriber.objects.get()
    assert new_id == subscriber.pk
    assert seen == [result]
    row = DBTaskResult.objects.get()
    assert result.id == str(row.id)
    assert result.args == [subscriber.pk, "confirm"] == row.args_kwargs["args"]
    assert row.args_kwargs["kwargs"] == {}
    # Every other column as enqueue() writes it.
    send_signup_email.enqueue(subscriber.pk, "confirm")
    written = DBTaskResult.objects.exclude(pk=row.pk).get()
    ignored = {"id", "enqueued_at"}
    fields = [f.attname for f in DBTaskResult._meta.concrete_fields]
    assert {f: getattr(row, f) for f in fields if f not in ignored} == {
        f: getattr(written, f) for f in fields if f not in ignored
    }


def test_nothing_is_enqueued_when_the_insert_inserts_nothing():
    Subscriber.objects.create(email="reader@example.org")
    assert enqueue_on_insert("READER@example.org", "confirm") == (None, None)
    assert Subscriber.objects.count() == 1
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_row_is_not_written_when_its_task_cannot_be():
    """One statement, atomic without a transaction block: a task the
    database refuses takes its row with it."""

    def out_of_range(sender, instance, **kwargs):
        instance.priority = 1000  # the table's check constraint refuses it

    pre_save.connect(out_of_range, sender=DBTaskResult)
    assert connection.get_autocommit()
    try:
        with pytest.raises(IntegrityError):
            enqueue_on_insert("reader@example.org", "confirm")
    finally:
        pre_save.disconnect(out_of_range, sender=DBTaskResult)
    assert not Subscriber.objects.exists()
    assert not DBTaskResult.objects.exists()
