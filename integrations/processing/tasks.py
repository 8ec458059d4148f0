"""django-q2 tasks: thin wrappers that call services."""

from integrations.processing.services import PROCESSING_JOB
from integrations.scheduler import scheduler_tick


def processing_run_due_task() -> dict:
    """The processing tick (every few minutes, and when engagements are queued): one
    task per org with due rows (integrations/scheduler.py)."""
    return scheduler_tick(PROCESSING_JOB)
