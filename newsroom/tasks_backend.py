"""The task backend: django-tasks-db's, which keeps the queue in PostgreSQL
(see docs/deploy.md, "Workers and queues")."""

import django_tasks_db
from django.tasks.signals import task_enqueued


class DatabaseBackend(django_tasks_db.DatabaseBackend):
    """django-tasks-db's backend, making an enqueued task's result once.

    Its ``enqueue()`` makes the ``TaskResult`` of the row it wrote twice,
    once for the ``task_enqueued`` signal and once to return, and each
    imports the task by its path and copies it (``Task.using()``): a tenth
    of a newsletter signup's time in Python. Here both get the same result,
    which is immutable.
    """

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        db_result = self._task_to_db_task(task, args, kwargs)
        result = db_result.task_result
        task_enqueued.send(type(self), task_result=result)
        return result
