from django.contrib import admin

from dialers.models import ComplianceSettings, DialerCall


@admin.register(DialerCall)
class DialerCallAdmin(admin.ModelAdmin):
    """Support's view of the import ledger: why a recording is missing, what compliance deleted."""

    list_display = ("dialer", "external_id", "org", "started_at", "media_status", "media_attempts", "deleted_at")
    list_filter = ("dialer", "media_status")
    search_fields = ("external_id", "org__slug")
    readonly_fields = [f.name for f in DialerCall._meta.fields if f.name != "media_attempts"]
    list_select_related = ("org",)


@admin.register(ComplianceSettings)
class ComplianceSettingsAdmin(admin.ModelAdmin):
    list_display = ("org", "window_seconds")
    search_fields = ("org__slug", "org__name")
