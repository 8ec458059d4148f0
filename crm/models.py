"""The local, filterable copy of the connected CRM's data, and how engagements
were matched to it.

The connection itself (tokens, instance URL, status) is an
``integrations.Connection`` row with ``provider`` = ``salesforce`` / ``hubspot`` /
``dynamics``. Rows here are keyed by ``(org, provider, remote_id)`` so a sync is
an upsert, and carry ``remote_modified_at`` for incremental syncs.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Engagement, Organization
from chorus.tenancy import OrgManager


def crm_provider_choices() -> list[tuple[str, str]]:
    """The registered CRMs (a callable, so adding a CRM needs no migration)."""
    from crm.providers import crm_provider_choices as choices

    return choices()


class CrmRecord(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=crm_provider_choices)
    remote_id = models.CharField(max_length=64)
    # Values of the admin's imported custom fields: {"Industry__c": "Paper", …}.
    custom = models.JSONField(default=dict, blank=True)
    remote_modified_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        abstract = True


class CrmAccount(CrmRecord):
    name = models.CharField(max_length=255)
    website = models.CharField(max_length=1000, blank=True)
    # ZoomInfo company id (Salesforce DOZISF__ZoomInfo_Id__c, when that app is installed).
    zoominfo_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("org", "provider", "remote_id", name="crm_account_remote_unique"),
        ]
        indexes = [
            models.Index(fields=["org", "zoominfo_id"], name="crm_account_zoominfo_idx"),
            models.Index(fields=["org", "name"], name="crm_account_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class AccountDomain(models.Model):
    """A registrable domain of an account (from its website and its contacts'
    emails), indexed for matching: one account may have several domains and one
    domain several accounts."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(CrmAccount, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=255)
    # How many of the account's contacts use it (prevalence, for tie-breaks).
    weight = models.PositiveIntegerField(default=1)

    objects = OrgManager()

    class Meta:
        constraints = [models.UniqueConstraint("account", "domain", name="account_domain_unique")]
        indexes = [models.Index(fields=["org", "domain"], name="account_domain_lookup_idx")]

    def __str__(self) -> str:
        return self.domain


class CrmOpportunity(CrmRecord):
    account = models.ForeignKey(CrmAccount, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="opportunities")
    account_remote_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=255)
    stage = models.CharField(max_length=120, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    close_date = models.DateField(null=True, blank=True)
    is_closed = models.BooleanField(default=False)
    is_won = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "CRM opportunities"
        constraints = [
            models.UniqueConstraint("org", "provider", "remote_id", name="crm_opportunity_remote_unique"),
        ]
        indexes = [
            models.Index(fields=["org", "account", "is_closed", "close_date"], name="crm_opp_account_open_idx"),
            models.Index(fields=["org", "stage"], name="crm_opp_stage_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class CrmContact(CrmRecord):
    """A Contact or a Lead (HubSpot contact, Dynamics contact/lead)."""

    class Kind(models.TextChoices):
        CONTACT = "contact", "Contact"
        LEAD = "lead", "Lead"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CONTACT)
    email = models.CharField(max_length=254, blank=True, help_text="Stored lower-case.")
    name = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=255, blank=True)
    account = models.ForeignKey(CrmAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts")
    account_remote_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("org", "provider", "remote_id", name="crm_contact_remote_unique"),
        ]
        indexes = [models.Index(fields=["org", "email"], name="crm_contact_email_idx")]

    def __str__(self) -> str:
        return self.email or self.name


class CrmField(models.Model):
    """A field of a CRM object the admin may import for filtering (Settings >
    Integration Settings > Select CRM Fields)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=crm_provider_choices)
    object_name = models.CharField(max_length=64, help_text="Task, Lead, Account, Opportunity (or equivalents).")
    api_name = models.CharField(max_length=255)
    label = models.CharField(max_length=255)
    field_type = models.CharField(max_length=40)
    supported = models.BooleanField(default=True)
    unsupported_reason = models.CharField(max_length=255, blank=True)
    picklist_values = models.JSONField(default=list, blank=True)
    picklist_codes = models.JSONField(
        default=dict, blank=True, help_text="Label → the value the CRM stores, where they differ (Dynamics options).")
    selected = models.BooleanField(default=False)
    # The field vanished from the CRM at the last describe (kept so filters explain it).
    missing_since = models.DateTimeField(null=True, blank=True)

    objects = OrgManager()

    class Meta:
        ordering = ["object_name", "label"]
        constraints = [
            models.UniqueConstraint("org", "provider", "object_name", "api_name", name="crm_field_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.object_name}.{self.api_name}"


class CrmSyncCursor(models.Model):
    """Where the incremental sync of one object stopped (last modified seen)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=crm_provider_choices)
    object_name = models.CharField(max_length=64)
    modified_since = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    records_synced = models.PositiveIntegerField(default=0)

    objects = OrgManager()

    class Meta:
        constraints = [
            models.UniqueConstraint("org", "provider", "object_name", name="crm_sync_cursor_unique"),
        ]


class AccountMatch(models.Model):
    """Why an engagement was tied to an account and opportunity (shown on the
    engagement); re-computed when CRM data changes."""

    class Rule(models.TextChoices):
        ZOOMINFO = "zoominfo_id", "ZoomInfo Company ID"
        DOMAIN = "domain", "Company domain of participants' email addresses"
        EMAIL = "email", "Participant full email address"
        NONE = "none", "No match"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    engagement = models.OneToOneField(Engagement, on_delete=models.CASCADE, related_name="account_match")
    account = models.ForeignKey(CrmAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    opportunity = models.ForeignKey(CrmOpportunity, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    rule = models.CharField(max_length=20, choices=Rule.choices, default=Rule.NONE)
    reason = models.TextField(blank=True)
    matched_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    def __str__(self) -> str:
        return f"{self.engagement_id} → {self.account_id} ({self.rule})"


from crm.push.models import *  # noqa: E402,F401,F403  (CRM Objects Creation models live beside their code)
