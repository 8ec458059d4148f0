"""Models of CRM Objects Creation (imported by crm/models.py so Django finds them)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Engagement, Organization, User
from chorus.tenancy import OrgManager

__all__ = ["CrmObjectsSettings", "CrmPushState", "RequiredCrmField", "CrmFieldRequest"]

# The matrix of Settings > Integrations > CRM Objects Creation: row → the columns it
# has. Event and task rows also have Unrecorded Meeting; Push transcript only
# Recording (seed screenshots).
ROWS = ("event", "task", "tracker", "custom_object", "contact", "account", "transcript")
ROW_LABELS = {
    "event": "Create an event",
    "task": "Create a task",
    "tracker": "Create tracker / metadata",
    "custom_object": "Create a custom object",
    "contact": "Create contact if not exist",
    "account": "Create account if not exist",
    "transcript": "Push transcript",
}
COLUMNS = ("recording", "email", "unrecorded")
COLUMN_LABELS = {"recording": "Recording", "email": "Email", "unrecorded": "Unrecorded Meeting"}
ROW_COLUMNS = {
    "event": ("recording", "email", "unrecorded"),
    "task": ("recording", "email", "unrecorded"),
    "tracker": ("recording", "email"),
    "custom_object": ("recording", "email"),
    "contact": ("recording", "email"),
    "account": ("recording", "email"),
    "transcript": ("recording",),
}
# Seed, first screenshot of CRM Objects Creation: task, tracker, custom object and
# contact on for recordings; everything else off. ("The Pushed Tasks feature is on
# by default.")
DEFAULTS = {"task_recording", "tracker_recording", "custom_object_recording", "contact_recording"}


def cell_name(row: str, column: str) -> str:
    return f"{row}_{column}"


CELLS = tuple(cell_name(r, c) for r in ROWS for c in ROW_COLUMNS[r])


class CrmObjectsSettingsBase(models.Model):
    org = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="crm_objects_settings")
    # Seed note under custom objects: participants that match no contact get one so
    # Moments can be reported per contact; support turns it off on request.
    contacts_for_moments = models.BooleanField(
        "Create contacts for Moments", default=True,
        help_text="Participants that match no CRM contact get one, so Moments can be reported per contact. "
        "Support turns this off when the customer asks.")
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = OrgManager()

    class Meta:
        abstract = True


def _cell_fields() -> dict[str, models.BooleanField]:
    return {
        cell_name(r, c): models.BooleanField(f"{ROW_LABELS[r]} · {COLUMN_LABELS[c]}",
                                             default=cell_name(r, c) in DEFAULTS)
        for r in ROWS for c in ROW_COLUMNS[r]
    }


CrmObjectsSettings = type("CrmObjectsSettings", (CrmObjectsSettingsBase,), {
    "__module__": __name__,
    "__doc__": "One organisation's CRM Objects Creation matrix: which CRM objects Chorus creates for "
               "which engagement types. Who changed what is kept as AuditEvents "
               "(action ``crm_objects.update``).",
    "Meta": type("Meta", (), {"verbose_name": "CRM objects creation settings",
                              "verbose_name_plural": "CRM objects creation settings"}),
    "__str__": lambda self: f"CRM Objects Creation · {self.org}",
    **_cell_fields(),
})


class CrmPushState(models.Model):
    """How much of the CRM's API allowance is used (last ``Sforce-Limit-Info`` /
    HubSpot ``X-HubSpot-RateLimit-*`` seen) and whether pushes wait until the
    allowance comes back — shown on the page so an admin knows why tasks are late."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20)
    api_used = models.PositiveIntegerField(null=True, blank=True)
    api_limit = models.PositiveIntegerField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        constraints = [models.UniqueConstraint("org", "provider", name="crm_push_state_unique")]

    def __str__(self) -> str:
        return f"{self.org} · {self.provider}"


class RequiredCrmField(models.Model):
    """A CRM picklist reps must fill in after their meetings and calls (seed, CRM
    Connect benefits: "Opportunity Stage", "Call Outcome"), picked by an admin from
    the imported CRM fields."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    field = models.ForeignKey("crm.CrmField", on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        constraints = [models.UniqueConstraint("org", "field", name="required_crm_field_unique")]

    def __str__(self) -> str:
        return str(self.field)


class CrmFieldRequest(models.Model):
    """One question for a rep after one engagement: a required picklist to answer.
    The answer is written to the CRM record (the opportunity, or the pushed task)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="crm_field_requests")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="crm_field_requests")
    field = models.ForeignKey("crm.CrmField", on_delete=models.CASCADE, related_name="+")
    value = models.CharField(max_length=255, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [models.UniqueConstraint("engagement", "field", name="crm_field_request_unique")]
        indexes = [models.Index(fields=["user", "answered_at"], name="crm_field_request_pending_idx")]

    def __str__(self) -> str:
        return f"{self.field} for {self.engagement_id}"
