"""Connections to other systems and the outbox of deliveries to them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Engagement, Organization, User
from chorus.secrets import EncryptedJSONField
from chorus.tenancy import OrgManager


class ConnectionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SYNCING = "syncing", "Syncing"
    OK = "ok", "Connected"
    FAILED = "failed", "Failed"
    DISCONNECTED = "disconnected", "Disconnected"


class Connection(models.Model):
    """An organisation's connection to one provider (a CRM, a dialer, Slack, a
    bucket…). The provider is a stateless description found in the registry by
    ``provider``; this row holds the org's parameters, its encrypted secrets and a
    visible status."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="connections")
    provider = models.CharField(max_length=64, db_index=True)
    config = models.JSONField(default=dict, blank=True, help_text="Non-secret parameters.")
    secrets = EncryptedJSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.QUEUED)
    last_error = models.TextField(blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgManager()

    class Meta:
        ordering = ["provider"]

    def __str__(self) -> str:
        return f"{self.org} · {self.provider}"


class Delivery(models.Model):
    """One object to create or update in another system (a CRM task, a Gainsight
    activity, a Slack summary…). Written in the same transaction that makes the
    engagement ready; sent by workers in batches; ``idempotency_key`` (unique per
    org) means enqueueing twice makes one delivery, and ``remote_id`` records what
    the other system made so a retry never makes a second copy. ``attempts`` counts
    claims and is never handed back; ``write_attempted_at`` is the persisted fact
    "a write may have reached the other system", which a sender reads to decide
    whether to look a record up before writing it again."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="deliveries")
    target = models.CharField(max_length=64, help_text="The sender, e.g. salesforce, hubspot, gainsight.")
    kind = models.CharField(max_length=64, help_text="What is delivered, e.g. task, event, contact.")
    engagement = models.ForeignKey(Engagement, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="deliveries")
    idempotency_key = models.CharField(max_length=255)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True,
                                         help_text="A worker holds the row until then; after it the row is due again.")
    claim_token = models.CharField(max_length=32, blank=True)
    waits = models.PositiveIntegerField(
        default=0, help_text="Attempts that only waited (a rate limit, a record it links to still on its way); "
                             "they do not count towards giving up.")
    write_attempted_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Set before the first write that carries this delivery is sent: from then on the other "
                  "system may have it (a lost answer is an unknown outcome), so every later attempt looks "
                  "it up before writing again.")
    remote_id = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = OrgManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint("org", "idempotency_key", name="delivery_idempotency_unique_per_org"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["org", "target", "status"], name="delivery_org_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.target}:{self.kind} {self.idempotency_key}"


class JobLease(models.Model):
    """One unit of a scheduled job (an org's deliveries to one target, one
    connection's import…) and who runs it until when (integrations/scheduler.py).
    ``queued_until``: a task for it is queued (a tick does not queue another);
    ``held_until`` + ``token``: a worker runs it, renewing while it works."""

    job = models.CharField(max_length=40)
    key = models.CharField(max_length=120)
    org = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=64, blank=True)
    queued_until = models.DateTimeField(null=True, blank=True)
    queue_token = models.CharField(max_length=32, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)
    token = models.CharField(max_length=32, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "key"]
        constraints = [models.UniqueConstraint("job", "key", name="job_lease_unique_key")]
        indexes = [models.Index(fields=["job", "provider"], name="job_lease_provider_idx")]

    def __str__(self) -> str:
        return f"{self.job} · {self.key}"
