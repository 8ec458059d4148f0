"""Support staff's view of an org's CRM copy (read-mostly; the sync owns the rows)."""

from django.contrib import admin

from crm.models import AccountDomain, AccountMatch, CrmAccount, CrmContact, CrmField, CrmOpportunity, CrmSyncCursor


class OrgScopedAdmin(admin.ModelAdmin):
    list_select_related = ("org",)
    show_full_result_count = False  # millions of rows: no COUNT(*) on every page


@admin.register(CrmAccount)
class CrmAccountAdmin(OrgScopedAdmin):
    list_display = ("name", "org", "provider", "remote_id", "website", "zoominfo_id", "remote_modified_at")
    list_filter = ("provider",)
    search_fields = ("name", "remote_id", "website")
    raw_id_fields = ("org",)


@admin.register(CrmOpportunity)
class CrmOpportunityAdmin(OrgScopedAdmin):
    list_display = ("name", "org", "provider", "stage", "amount", "close_date", "is_closed")
    list_filter = ("provider", "is_closed")
    search_fields = ("name", "remote_id")
    raw_id_fields = ("org", "account")


@admin.register(CrmContact)
class CrmContactAdmin(OrgScopedAdmin):
    list_display = ("email", "name", "kind", "org", "provider", "account")
    list_filter = ("provider", "kind")
    search_fields = ("email", "name", "remote_id")
    raw_id_fields = ("org", "account")


@admin.register(CrmField)
class CrmFieldAdmin(OrgScopedAdmin):
    list_display = ("object_name", "api_name", "label", "field_type", "supported", "selected", "missing_since", "org")
    list_filter = ("provider", "object_name", "supported", "selected")
    search_fields = ("api_name", "label")
    raw_id_fields = ("org",)


@admin.register(CrmSyncCursor)
class CrmSyncCursorAdmin(OrgScopedAdmin):
    list_display = ("org", "provider", "object_name", "modified_since", "last_run_at", "records_synced")
    list_filter = ("provider", "object_name")


@admin.register(AccountDomain)
class AccountDomainAdmin(OrgScopedAdmin):
    list_display = ("domain", "account", "weight", "org")
    search_fields = ("domain",)
    raw_id_fields = ("org", "account")


@admin.register(AccountMatch)
class AccountMatchAdmin(OrgScopedAdmin):
    list_display = ("engagement", "account", "opportunity", "rule", "matched_at", "org")
    list_filter = ("rule",)
    raw_id_fields = ("org", "engagement", "account", "opportunity")
