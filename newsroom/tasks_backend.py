"""The task backend: django-tasks-db's, which keeps the queue in PostgreSQL
(see docs/deploy.md, "Workers and queues")."""

import json

import django_tasks_db
from django.db import connections
from django.db.models.signals import post_save, pre_save
from django.tasks.signals import task_enqueued
from django.utils.json import normalize_json

from newsroom.models import insert_columns


class DatabaseBackend(django_tasks_db.DatabaseBackend):
    """django-tasks-db's backend, making an enqueued task's result once, and
    able to enqueue a task for a row in the statement that inserts the row.

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

    def enqueue_on_insert(self, insert, task, args=(), kwargs=None):
        """Run ``insert`` and enqueue ``task(new_id, *args, **kwargs)`` for
        the row it inserted, in one statement; ``(new_id, TaskResult)``, or
        ``(None, None)`` when it inserted nothing (``ON CONFLICT DO NOTHING``).

        ``insert`` is ``(sql, params, database alias)`` of an ``INSERT …
        RETURNING`` of the new row's id (one column). Both rows are written
        by one ``WITH … INSERT`` statement, which is atomic by itself: the
        task exists if and only if the row does, without a transaction
        block of its own, so outside one (autocommit) this is a single round
        trip to PostgreSQL instead of four (``BEGIN``, two ``INSERT``\\ s,
        ``COMMIT``). Inside a transaction it is part of that transaction, as
        ``enqueue()`` is.

        The task's row is the one ``enqueue()`` writes (the model's fields,
        through its ``pre_save``/``post_save`` signals, which django-tasks-db
        uses to fill ``run_after``), with the new id put in as the first
        argument by PostgreSQL.
        """
        from django_tasks_db.models import DBTaskResult

        self.validate_task(task)
        sql, params, using = insert
        db_result = DBTaskResult(
            id=self._get_id(),
            # The first argument is a placeholder until PostgreSQL fills it.
            args_kwargs=normalize_json({"args": [0, *args], "kwargs": kwargs or {}}),
            priority=task.priority,
            task_path=task.module_path,
            queue_name=task.queue_name,
            run_after=task.run_after,
            backend_name=self.alias,
        )
        pre_save.send(
            DBTaskResult, instance=db_result, raw=False, using=using, update_fields=None
        )
        connection = connections[using]
        quote = connection.ops.quote_name
        fields = DBTaskResult._meta.concrete_fields
        columns, values = insert_columns(db_result, fields, connection)
        selected = [
            "jsonb_set(%s::jsonb, '{args,0}', to_jsonb(inserted.new_id))"
            if field.name == "args_kwargs"
            else "%s"
            for field in fields
        ]
        arguments = quote(DBTaskResult._meta.get_field("args_kwargs").column)
        statement = (
            # The caller's statement; names from the model, values as parameters.
            f"WITH inserted (new_id) AS ({sql}) "  # noqa: S608
            f"INSERT INTO {quote(DBTaskResult._meta.db_table)} "
            f"({columns}) "
            f"SELECT {', '.join(selected)} FROM inserted "
            f"RETURNING {arguments} -> 'args' -> 0"
        )
        with connection.cursor() as cursor:
            cursor.execute(statement, [*params, *values])
            row = cursor.fetchone()
        if row is None:
            return None, None
        new_id = json.loads(row[0])
        db_result.args_kwargs["args"][0] = new_id
        db_result._state.adding = False
        db_result._state.db = using
        post_save.send(
            DBTaskResult,
            instance=db_result,
            created=True,
            update_fields=None,
            raw=False,
            using=using,
        )
        result = db_result.task_result
        task_enqueued.send(type(self), task_result=result)
        return new_id, result
