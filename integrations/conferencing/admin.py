"""Support tooling: Zoom and Notetaker webhook events (Zoom's with a requeue action),
calendars and scanned meetings. Payloads and calendar secrets are never shown."""

from django.contrib import admin, messages
from django.db import transaction

from integrations.conferencing.models import Calendar, CalendarEvent, NotetakerEvent, ZoomEvent


@admin.register(ZoomEvent)
class ZoomEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "org", "event", "account_id", "status", "attempts", "detail", "engagement")
    list_filter = ("status", "event")
    search_fields = ("account_id", "org__name", "org__slug")
    exclude = ("payload",)  # holds the download token
    readonly_fields = (
        "org",
        "event",
        "account_id",
        "dedupe_key",
        "status",
        "detail",
        "engagement",
        "received_at",
        "processed_at",
        "attempts",
        "next_attempt_at",
    )
    actions = ["requeue"]

    @admin.action(description="Process again (Zoom's download token lasts 24 hours)")
    def requeue(self, request, queryset):
        from django_q.tasks import async_task

        # Failed ones, ones waiting for their next try, and ones stuck in "processing".
        stuck = [ZoomEvent.Status.FAILED, ZoomEvent.Status.PROCESSING, ZoomEvent.Status.RETRYING]
        ids = list(queryset.filter(status__in=stuck).values_list("pk", flat=True))
        ZoomEvent.objects.filter(pk__in=ids).update(status=ZoomEvent.Status.QUEUED, detail="")
        for pk in ids:
            transaction.on_commit(
                lambda pk=pk: async_task(
                    "integrations.conferencing.tasks.zoom_event_process_task", pk, group="zoom-events"
                )
            )
        messages.success(request, f"{len(ids)} event(s) queued again.")

    def has_add_permission(self, request):
        return False


@admin.register(NotetakerEvent)
class NotetakerEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "org", "event", "bot_id", "status", "attempts", "detail", "engagement")
    list_filter = ("status", "event")
    search_fields = ("bot_id", "org__name", "org__slug")
    exclude = ("payload", "signature")
    readonly_fields = ("org", "calendar_event", "event_id", "event", "bot_id", "status", "detail", "engagement",
                       "received_at", "processed_at", "attempts", "next_attempt_at")

    def has_add_permission(self, request):
        return False


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    list_display = ("user", "org", "provider", "status", "last_synced_at", "last_error")
    list_filter = ("provider", "status")
    search_fields = ("user__email", "org__slug")
    exclude = ("secrets",)
    readonly_fields = (
        "org",
        "user",
        "provider",
        "account_email",
        "sync_state",
        "status",
        "last_error",
        "last_synced_at",
        "created_at",
    )

    def has_add_permission(self, request):
        return False


@admin.register(CalendarEvent)
class CalendarEventAdmin(admin.ModelAdmin):
    list_display = ("starts_at", "title", "org", "conference_provider", "record", "reason", "recording_disabled",
                    "engagement", "notetaker_bot_id")
    list_filter = ("record", "conference_provider", "cancelled")
    search_fields = ("title", "organizer_email", "org__slug")
    readonly_fields = [f.name for f in CalendarEvent._meta.fields]

    def has_add_permission(self, request):
        return False
