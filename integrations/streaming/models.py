"""Zoom Streaming: one session per Zoom meeting (by uuid) Chorus streams."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Engagement, Organization
from chorus.tenancy import OrgManager


class StreamSession(models.Model):
    """A Zoom meeting Chorus asked to live-stream to its RTMP ingest.

    The stream key travels in the RTMP URL (``<STREAM_INGEST_URL>/<key>``): only its
    SHA-256 is stored. It belongs to this session alone: it may publish (and publish
    again after a dropped connection) until the meeting ended or ``expires_at``;
    afterwards, and for any other meeting, the ingest refuses it."""

    class Status(models.TextChoices):
        STARTING = "starting", "Asking Zoom to stream"
        WAITING = "waiting", "Waiting for the stream"
        LIVE = "live", "Streaming"
        ENDED = "ended", "Meeting ended"
        FINALIZING = "finalizing", "Making the recording"
        DONE = "done", "Recorded"
        FAILED = "failed", "Failed"

    OPEN = (Status.STARTING, Status.WAITING, Status.LIVE)

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    meeting_uuid = models.CharField(max_length=255)
    meeting_id = models.CharField(max_length=32, blank=True)
    host_id = models.CharField(max_length=64, blank=True)
    topic = models.CharField(max_length=500, blank=True)
    attendees = models.JSONField(default=list, blank=True, help_text="[[name, email]] from the calendar meeting.")
    owner = models.ForeignKey("chorus.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    key_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STARTING)
    detail = models.TextField(blank=True, help_text="Why it failed or was not recorded, in plain words.")
    started_at = models.DateTimeField(default=timezone.now)
    first_published_at = models.DateTimeField(null=True, blank=True)
    publishes = models.PositiveIntegerField(default=0)
    publishing = models.BooleanField(default=False, help_text="The ingest is recording a piece right now.")
    pieces = models.JSONField(default=list, blank=True, help_text="Recorded files, in the order they finished.")
    ended_at = models.DateTimeField(null=True, blank=True)
    engagement = models.ForeignKey(Engagement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint("org", "meeting_uuid", name="stream_session_meeting_unique")]

    def __str__(self) -> str:
        return f"{self.meeting_uuid} ({self.status})"
