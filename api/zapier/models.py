"""A Zap's REST-hook subscription (docs.zapier.com/platform/build/hook-trigger):
Zapier subscribes one unique target URL per turned-on Zap and unsubscribes it by the
id we returned when the Zap is turned off."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Organization, PersonalApiToken, User
from chorus.tenancy import OrgManager


class ZapierHook(models.Model):
    class Event(models.TextChoices):
        NEW_BRIEF = "new_brief", "New Post-Meeting Brief"
        NEW_ACTION_ITEMS = "new_action_items", "New Action Items"

    class Ended(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed by Zapier (the Zap was turned off)"
        GONE = "gone", "Zapier answered 410 Gone (the Zap no longer exists)"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="zapier_hooks")
    # The token Zapier signed in with: revoking it stops the Zap's deliveries.
    token = models.ForeignKey(PersonalApiToken, on_delete=models.CASCADE, related_name="zapier_hooks")
    event = models.CharField(max_length=32, choices=Event.choices)
    target_url = models.URLField(max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_reason = models.CharField(max_length=16, choices=Ended.choices, blank=True)

    objects = OrgManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Zapier subscribing the same Zap again gets the same hook back.
            models.UniqueConstraint("org", "event", "target_url", condition=models.Q(deleted_at__isnull=True),
                                    name="zapier_hook_active_unique"),
        ]
        indexes = [models.Index(fields=["org", "deleted_at"], name="zapier_hook_org_active_idx")]

    def __str__(self) -> str:
        return f"{self.event} → {self.target_url}"

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None
