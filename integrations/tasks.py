"""django-q2 tasks: thin wrappers that call services."""

from integrations.outbox import OUTBOX_JOB
from integrations.scheduler import scheduler_tick, scheduler_tick_soon


def outbox_drain_task() -> dict:
    """The outbox's tick (every minute, and after deliveries are queued): one task per
    org and target with due deliveries (integrations/scheduler.py)."""
    return scheduler_tick(OUTBOX_JOB)


def outbox_drain_async() -> None:
    """Ask a worker to drain the outbox once the current transaction commits."""
    scheduler_tick_soon(OUTBOX_JOB)
