from django.apps import AppConfig


class ConferencingConfig(AppConfig):
    name = "integrations.conferencing"
    label = "conferencing"
    verbose_name = "Conferencing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.conferencing import services
        from integrations.conferencing.provider import ZoomProvider
        from integrations.registry import Section, register_provider, register_section

        register_provider(ZoomProvider(key=services.PROVIDER, label="Zoom", category="conferencing"))

        # Scheduled jobs, one task per due calendar / per org (integrations/scheduler.py).
        from integrations.conferencing import unrecorded
        from integrations.conferencing.calendars import sync as calendar_sync
        from integrations.scheduler import ScheduledJob, job_register

        job_register(ScheduledJob(name=calendar_sync.CALENDAR_SYNC_JOB, due=calendar_sync.calendar_sync_due_units,
                                  run=calendar_sync.calendar_sync_unit_run))
        job_register(ScheduledJob(name=unrecorded.UNRECORDED_JOB, due=unrecorded.unrecorded_due_units,
                                  run=unrecorded.unrecorded_unit_run))
        # "Your recording is ready" once processing has made it ready.
        from integrations.ready import register_ready_listener

        register_ready_listener("conferencing.recording_ready_email", services.recording_ready_email_listener,
                                order=90)
        register_section(
            Section(
                key="native-zoom-integration",
                title="Native Zoom Integration",
                order=50,
                template="conferencing/section_zoom.html",
                context=services.zoom_section,
            )
        )

        # Sections of the console's Organization Settings and Personal Settings pages.
        from integrations.conferencing.calendar_views import calendar_section, recording_rules_section
        from integrations.registry import ORGANIZATION_PAGE, PERSONAL_PAGE

        register_section(Section(key="meeting-recording-rules", title="Meeting Recording Rules", order=10,
                                 template="conferencing/section_recording_rules.html",
                                 context=recording_rules_section, page=ORGANIZATION_PAGE))
        register_section(Section(key="calendar-section", title="Calendar", order=10,
                                 template="conferencing/section_calendar.html", context=calendar_section,
                                 page=PERSONAL_PAGE))
