from django.contrib import admin, messages
from django.utils.html import format_html_join

from chorus.secrets import mask
from integrations.models import Connection, Delivery
from integrations.outbox import delivery_retry_now
from integrations.tasks import outbox_drain_async


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("provider", "org", "status", "last_run_at", "connected_by")
    list_filter = ("provider", "status")
    search_fields = ("provider", "org__name", "org__slug", "last_error")
    list_select_related = ("org", "connected_by")
    # Secrets are never put in a form (not even masked): support can see which
    # are set, not their values. Changing them is the admin's job in the console.
    exclude = ("secrets",)
    readonly_fields = ("masked_secrets", "created_at", "updated_at")
    raw_id_fields = ("connected_by",)

    @admin.display(description="Secrets")
    def masked_secrets(self, obj):
        items = sorted((obj.secrets or {}).items())
        if not items:
            return "—"
        return format_html_join("", "<div><code>{}</code>: {}</div>", ((k, mask(v)) for k, v in items))


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("idempotency_key", "org", "target", "kind", "status", "attempts", "waits", "next_attempt_at",
                    "write_attempted_at", "remote_id", "short_error")
    list_filter = ("status", "target", "kind")
    search_fields = ("idempotency_key", "remote_id", "org__slug", "last_error")
    list_select_related = ("org",)
    raw_id_fields = ("engagement",)
    # write_attempted_at: the other system may have this record; a retry looks it up
    # first. Support cannot clear it (that would risk a second copy).
    readonly_fields = ("claim_token", "claimed_until", "created_at", "sent_at", "write_attempted_at", "waits")
    actions = ["retry_now"]

    @admin.display(description="Last error")
    def short_error(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        n = delivery_retry_now(deliveries=queryset)
        outbox_drain_async()
        self.message_user(request, f"{n} deliver{'y' if n == 1 else 'ies'} queued to be sent now.", messages.SUCCESS)
