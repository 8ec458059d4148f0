"""django-q2 tasks: thin wrappers that call services."""

from integrations.conferencing import services


def zoom_event_process_task(event_id: int) -> str | None:
    event = services.zoom_event_process(event_id=event_id)
    return event.status if event else None


def recording_ready_email_task(engagement_id: int, attempt: int = 1) -> str:
    return services.recording_ready_email_send(engagement_id=engagement_id, attempt=attempt)


def zoom_events_retry_due_task() -> int:
    return services.zoom_events_retry_due()


def calendar_sync_task(calendar_id: int) -> dict:
    """Connecting a calendar and "Sync now": under the calendar's lease, like the schedule's runs."""
    from integrations.conferencing.calendars import sync
    from integrations.conferencing.models import Calendar
    from integrations.scheduler import scheduler_run

    calendar = Calendar.objects.filter(pk=calendar_id).first()
    if calendar is None:
        return {"skipped": "calendar gone"}
    return scheduler_run(sync.CALENDAR_SYNC_JOB, sync.calendar_unit(calendar))


def calendars_sync_due_task() -> int:
    from integrations.conferencing import calendars

    return calendars.calendars_sync_due()


def unrecorded_meetings_task() -> dict[str, int]:
    """The tick: one task per org with meetings to look at (integrations/scheduler.py)."""
    from integrations.conferencing.unrecorded import UNRECORDED_JOB
    from integrations.scheduler import scheduler_tick

    return scheduler_tick(UNRECORDED_JOB)


def notetaker_event_process_task(event_id: int) -> str | None:
    from integrations.conferencing.notetaker_events import notetaker_event_process

    event = notetaker_event_process(event_id=event_id)
    return event.status if event else None


def notetaker_events_retry_due_task() -> int:
    from integrations.conferencing.notetaker_events import notetaker_events_retry_due

    return notetaker_events_retry_due()
