"""Django admin for support staff: every model, with list displays, filters and
search. Secrets never appear in forms or lists (see integrations.admin)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from chorus.models import (
    AuditEvent,
    Engagement,
    Moment,
    Organization,
    Participant,
    PersonalApiToken,
    Role,
    Team,
    Tracker,
    User,
)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "package", "api_access", "scim_provisioning_allowed", "created_at")
    list_filter = ("package", "api_access", "scim_provisioning_allowed")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "org", "is_builtin", "is_admin", "compliance_mode_enabled",
                    "compliance_mode_enforced", "delete_calls_without_notification")
    list_filter = ("is_builtin", "is_admin", "compliance_mode_enabled", "delete_calls_without_notification")
    search_fields = ("name", "org__name", "org__slug")
    list_select_related = ("org",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "org", "manager")
    search_fields = ("name", "org__name", "manager__email")
    list_select_related = ("org", "manager")
    raw_id_fields = ("manager",)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "org", "role", "license_type", "manager", "is_active", "is_staff")
    list_filter = ("is_active", "is_staff", "license_type", "org")
    search_fields = ("email", "first_name", "last_name", "external_id", "org__slug")
    list_select_related = ("org", "role", "manager")
    raw_id_fields = ("manager", "team", "role")
    fieldsets = (
        (None, {"fields": ("org", "email", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "title")}),
        ("Chorus", {"fields": ("role", "license_type", "manager", "pending_manager_email", "team")}),
        ("Identity", {"fields": ("external_id", "external_ids")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("org", "email", "password1", "password2")}),)


@admin.register(PersonalApiToken)
class PersonalApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "org", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__email", "prefix")
    list_select_related = ("user", "org")
    readonly_fields = ("prefix", "token_hash", "created_at", "last_used_at")
    exclude = ("token_hash",)


@admin.register(Tracker)
class TrackerAdmin(admin.ModelAdmin):
    list_display = ("name", "org")
    search_fields = ("name", "org__name")
    list_select_related = ("org",)


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    fields = ("name", "title", "email", "is_internal", "is_ignored", "is_blocklisted")


class MomentInline(admin.TabularInline):
    model = Moment
    extra = 0
    fields = ("tracker", "at_seconds", "text", "speaker")
    raw_id_fields = ("tracker",)


@admin.register(Engagement)
class EngagementAdmin(admin.ModelAdmin):
    list_display = ("display_title", "org", "kind", "owner", "source", "started_at", "duration_seconds")
    list_filter = ("kind", "source", "recording_disabled", "org")
    search_fields = ("title", "external_id", "owner__email", "crm_account_id", "crm_opportunity_id")
    list_select_related = ("org", "owner")
    date_hierarchy = "started_at"
    raw_id_fields = ("owner",)
    inlines = [ParticipantInline, MomentInline]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "engagement", "is_internal", "is_ignored", "is_blocklisted")
    list_filter = ("is_internal", "is_ignored", "is_blocklisted")
    search_fields = ("name", "email")
    raw_id_fields = ("engagement",)


@admin.register(Moment)
class MomentAdmin(admin.ModelAdmin):
    list_display = ("tracker", "engagement", "at_seconds", "speaker")
    search_fields = ("text", "tracker__name")
    list_select_related = ("tracker", "engagement")
    raw_id_fields = ("engagement", "tracker")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "org", "actor", "action", "target")
    list_filter = ("action",)
    search_fields = ("action", "target", "actor__email", "org__slug")
    list_select_related = ("org", "actor")
    readonly_fields = ("org", "actor", "action", "target", "changes", "at")
