"""The org's Slack workspace, who is who in it, and which channels track which
accounts and opportunities."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Organization, User
from chorus.secrets import EncryptedJSONField
from chorus.tenancy import OrgManager
from crm.models import CrmAccount, CrmOpportunity


class SlackWorkspace(models.Model):
    """The Chorus Slack app installed in one workspace: one per organisation (a
    reinstall replaces the token). ``secrets`` holds the bot token, encrypted."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Connected"
        DISCONNECTED = "disconnected", "Disconnected"

    org = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="slack_workspace")
    team_id = models.CharField(max_length=32, unique=True)
    team_name = models.CharField(max_length=255, blank=True)
    app_id = models.CharField(max_length=32, blank=True)
    bot_user_id = models.CharField(max_length=32, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    secrets = EncryptedJSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.TextField(blank=True, help_text="Why it was disconnected, in words for admins.")
    installed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    installed_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgManager()

    def __str__(self) -> str:
        return f"{self.team_name or self.team_id} ({self.org})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class SlackUserLink(models.Model):
    """A Chorus user's Slack identity (Personal Settings > Chorus for Slack Integration)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="slack_link")
    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="user_links")
    slack_user_id = models.CharField(max_length=32)
    slack_name = models.CharField(max_length=255, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        constraints = [models.UniqueConstraint("workspace", "slack_user_id", name="slack_user_once_per_workspace")]

    def __str__(self) -> str:
        return f"{self.user} = {self.slack_user_id}"


class SlackChannelTracking(models.Model):
    """A channel that tracks one account or one opportunity (``/chorus connect …``):
    after each engagement involving it, its summary goes there."""

    class Status(models.TextChoices):
        OK = "ok", "Tracking"
        BROKEN = "broken", "Broken"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="trackings")
    channel_id = models.CharField(max_length=32)
    channel_name = models.CharField(max_length=255, blank=True)
    account = models.ForeignKey(CrmAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    opportunity = models.ForeignKey(CrmOpportunity, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="+")
    added_by_slack_user_id = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    status_reason = models.TextField(blank=True, help_text="Why summaries cannot be posted (archived, app removed).")
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        ordering = ["channel_name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(account__isnull=False, opportunity__isnull=True)
                           | models.Q(account__isnull=True, opportunity__isnull=False)),
                name="slack_tracking_one_target"),
            models.UniqueConstraint("workspace", "channel_id", "account", condition=models.Q(account__isnull=False),
                                    name="slack_tracking_account_once"),
            models.UniqueConstraint("workspace", "channel_id", "opportunity",
                                    condition=models.Q(opportunity__isnull=False),
                                    name="slack_tracking_opportunity_once"),
        ]
        indexes = [models.Index(fields=["org", "account"], name="slack_tracking_account_idx"),
                   models.Index(fields=["org", "opportunity"], name="slack_tracking_opp_idx")]

    def __str__(self) -> str:
        return f"#{self.channel_name or self.channel_id} → {self.account or self.opportunity}"


class SlackEvent(models.Model):
    """Events API deliveries seen (by ``event_id``): a replay does nothing twice."""

    event_id = models.CharField(max_length=64, unique=True)
    team_id = models.CharField(max_length=32)
    type = models.CharField(max_length=64)
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
