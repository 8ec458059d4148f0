"""Support's view of CRM Objects Creation (registered by ``crm.push.registry.register``):
the seed's "contact ZoomInfo Support" switch for contacts created for Moments."""

from django.contrib import admin

from crm.push.models import CrmObjectsSettings, CrmPushState


class CrmObjectsSettingsAdmin(admin.ModelAdmin):
    list_display = ("org", "contacts_for_moments", "task_recording", "event_recording", "updated_at", "updated_by")
    list_filter = ("contacts_for_moments",)
    search_fields = ("org__name", "org__slug")
    readonly_fields = ("updated_at", "updated_by")


class CrmPushStateAdmin(admin.ModelAdmin):
    list_display = ("org", "provider", "api_used", "api_limit", "paused_until", "message", "updated_at")
    list_filter = ("provider",)


def register_admin(site: admin.AdminSite = admin.site) -> None:
    for model, model_admin in ((CrmObjectsSettings, CrmObjectsSettingsAdmin), (CrmPushState, CrmPushStateAdmin)):
        if not site.is_registered(model):
            site.register(model, model_admin)
