"""Where each recording file is stored.

A bucket is an :class:`integrations.models.Connection` with
``provider="media_bucket"``; the active one has status ``ok``. Editing the
location or removing a bucket retires its row (status ``disconnected``) but keeps
its credentials, so recordings already stored there stay readable."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Engagement, Organization
from chorus.tenancy import OrgManager
from integrations.models import Connection


class RecordingFile(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="recording_files")
    bucket = models.ForeignKey(
        Connection,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The Custom Media Bucket it was stored in; empty means Chorus' own storage.",
    )
    name = models.CharField(max_length=1024, help_text="The object's name in its storage.")
    file_type = models.CharField(max_length=16, blank=True, help_text="MP4, M4A…")
    content_type = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
