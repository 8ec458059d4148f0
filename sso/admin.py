"""Django admin (support staff): SAML configs, SCIM switches and tokens, used
assertions. Token hashes are never shown; certificates are public."""

from django.contrib import admin

from sso.models import SamlConfig, ScimSettings, ScimToken, UsedAssertion


@admin.register(SamlConfig)
class SamlConfigAdmin(admin.ModelAdmin):
    list_display = ("org", "provider", "idp_entity_id", "enabled", "updated_at")
    list_filter = ("provider", "enabled")
    search_fields = ("org__name", "org__slug", "idp_entity_id")
    raw_id_fields = ("org", "updated_by")
    readonly_fields = ("updated_at",)


@admin.register(ScimSettings)
class ScimSettingsAdmin(admin.ModelAdmin):
    list_display = ("org", "enabled", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("org__name", "org__slug")
    raw_id_fields = ("org", "updated_by")


@admin.register(ScimToken)
class ScimTokenAdmin(admin.ModelAdmin):
    list_display = ("org", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("org__name", "org__slug", "name", "prefix")
    fields = ("org", "name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at")
    readonly_fields = ("org", "prefix", "created_at", "created_by", "last_used_at")

    def has_add_permission(self, request):
        return False  # tokens are generated on Settings > SSO or by `scim_token`, and shown once


@admin.register(UsedAssertion)
class UsedAssertionAdmin(admin.ModelAdmin):
    list_display = ("assertion_id", "org", "used_at", "not_on_or_after")
    search_fields = ("assertion_id",)
    raw_id_fields = ("org",)
