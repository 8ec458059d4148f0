"""django-q2 tasks: thin wrappers that call services."""

from django.db import transaction
from django_q.tasks import async_task

from integrations.outbox import outbox_drain


def outbox_drain_task() -> dict:
    return outbox_drain()


def outbox_drain_async() -> None:
    """Ask a worker to drain the outbox once the current transaction commits."""
    transaction.on_commit(lambda: async_task("integrations.tasks.outbox_drain_task", group="outbox"))
