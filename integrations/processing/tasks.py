"""django-q2 tasks: thin wrappers that call services."""

from integrations.processing.services import processing_run_due


def processing_run_due_task() -> dict:
    return processing_run_due()
