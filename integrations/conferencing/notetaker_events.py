"""What the Notetaker Recording Bot's backend tells Chorus (its signed webhook; the
wire format is in :mod:`integrations.conferencing.notetaker`): the bot joined, could
not record (failed, kicked, left in the waiting room) — shown on the owner's meeting
list — or finished recording, when Chorus fetches the recording and the backend's
transcript, makes the meeting's Engagement once (keyed by bot id) and hands it to
processing.

Deliveries are accepted into :class:`NotetakerEvent` rows (fast answer) and worked by
a django-q task: idempotent (one engagement per bot, whatever the order or number of
deliveries), retried on a schedule when the backend is unreachable or busy, and
queued again when their worker died mid-import (its lease ran out)."""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chorus.models import Engagement, Participant
from integrations.conferencing.event_retry import events_requeue_due
from integrations.conferencing.models import CalendarEvent, NotetakerEvent
from integrations.conferencing.notetaker import (
    TRANSCRIPT_CONTENT_TYPES,
    NotetakerClient,
    NotetakerError,
)
from integrations.processing.services import processing_queue
from integrations.storage import services as storage
from integrations.storage.models import RecordingFile

log = logging.getLogger(__name__)

SOURCE = "notetaker"
TASK = "integrations.conferencing.tasks.notetaker_event_process_task"
EVENTS = ("bot.joined", "bot.recording_done", "bot.failed", "bot.kicked", "bot.waiting_room_timeout")
FAILURES = {
    "bot.failed": ("failed", "The Notetaker could not record this meeting"),
    "bot.kicked": ("kicked", "The Notetaker was removed from the meeting"),
    "bot.waiting_room_timeout": ("waiting_room_timeout", "The Notetaker was not let in from the waiting room"),
}
# A later status never gives way to an earlier one, whatever order deliveries arrive in.
STATUS_RANK = {"": 0, "joined": 1, "failed": 2, "kicked": 2, "waiting_room_timeout": 2, "recording_done": 3}

MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(minutes=5)  # 5, 10, 20, 40 minutes
LEASE = timedelta(hours=1)  # a worker silent this long is presumed dead
TRANSCRIPT_MAX_BYTES = 20 * 1024 * 1024


class Refused(Exception):
    """A signed delivery Chorus will not accept; ``status`` is the HTTP answer."""

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.status = status


def _bot_meeting(bot_id: str) -> CalendarEvent | None:
    return (CalendarEvent.objects.filter(notetaker_bot_id=bot_id).select_related("org", "calendar__user")
            .order_by("id").first())


def notetaker_event_accept(*, payload: dict[str, Any], signature: str = "") -> NotetakerEvent | None:
    """Record a verified delivery and queue it once the row is committed. Returns None
    for a retried delivery (same event id, signed afresh); raises :class:`Refused` for
    an unknown bot, metadata naming another org or meeting, or a replayed request."""
    event_id, bot_id = str(payload.get("id") or ""), str(payload.get("bot_id") or "")
    if not event_id or not bot_id or len(event_id) > 128 or len(bot_id) > 128:
        raise Refused("The event has no id or no bot_id.")
    meeting = _bot_meeting(bot_id)
    if meeting is None:
        raise Refused("Chorus scheduled no bot with this id.", status=404)
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    if ("org" in metadata and str(metadata["org"]) != str(meeting.org_id)) or (
            "calendar_event" in metadata and str(metadata["calendar_event"]) != str(meeting.pk)):
        raise Refused("The event's metadata does not match the bot Chorus scheduled.")
    try:
        with transaction.atomic():
            event = NotetakerEvent.objects.create(
                org=meeting.org, calendar_event=meeting, event_id=event_id, event=str(payload.get("event"))[:64],
                bot_id=bot_id, signature=signature[:200], payload=payload,
            )
    except IntegrityError:
        first = NotetakerEvent.objects.filter(event_id=event_id).only("signature", "bot_id").first()
        if first is not None and (first.bot_id != bot_id or (signature and first.signature == signature[:200])):
            raise Refused("Replayed delivery: this event was already received.") from None
        return None
    _queue(event.pk)
    return event


def _queue(pk: int) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(TASK, pk, group="notetaker-events"))


def notetaker_event_process(*, event_id: int) -> NotetakerEvent | None:
    """Work one queued event. The conditional UPDATE is the claim (one worker per row);
    transient failures are retried on a schedule, the rest fail with a sentence."""
    now = timezone.now()
    if not NotetakerEvent.objects.filter(pk=event_id, status=NotetakerEvent.Status.QUEUED).update(
            status=NotetakerEvent.Status.PROCESSING, next_attempt_at=now + LEASE):
        return None
    event = NotetakerEvent.objects.select_related("org").get(pk=event_id)
    transient = False
    try:
        status, detail = _handle(event)
    except NotetakerError as exc:
        status, detail, transient = NotetakerEvent.Status.FAILED, str(exc), exc.transient
    except Exception:
        log.exception("Notetaker event %s failed", event.pk)
        status, detail, transient = (NotetakerEvent.Status.FAILED,
                                     "Unexpected error; Chorus support has the details.", True)
    event.next_attempt_at = None
    if transient and event.attempts + 1 < MAX_ATTEMPTS:
        event.next_attempt_at = timezone.now() + RETRY_BASE * 2**event.attempts
        status = NotetakerEvent.Status.RETRYING
        detail = f"{detail} Chorus tries again at {timezone.localtime(event.next_attempt_at):%H:%M}."
    if transient:
        event.attempts += 1
    event.status, event.detail, event.processed_at = status, detail, timezone.now()
    event.save(update_fields=["status", "detail", "processed_at", "engagement", "attempts", "next_attempt_at"])
    return event


def notetaker_events_retry_due(*, now: datetime | None = None) -> int:
    """Every few minutes: events due again, or whose worker died mid-way, are queued."""
    return events_requeue_due(NotetakerEvent, now=now or timezone.now(), queue=_queue)


# --- Handlers -------------------------------------------------------------------------------------


def _meeting_of(event: NotetakerEvent) -> CalendarEvent | None:
    """The meeting the bot was scheduled into, checked again: same org, same bot."""
    if event.calendar_event_id is None:
        return None
    return (CalendarEvent.objects.for_org(event.org).filter(pk=event.calendar_event_id, notetaker_bot_id=event.bot_id)
            .select_related("calendar__user").first())


def _status_set(meeting: CalendarEvent, status: str, reason: str, at: datetime) -> bool:
    """Show the bot's status on the meeting unless a later one is already there."""
    shown, shown_at = CalendarEvent.objects.filter(pk=meeting.pk).values_list(
        "notetaker_status", "notetaker_status_at").get()
    current = STATUS_RANK.get(shown, 0)
    if STATUS_RANK[status] < current or (STATUS_RANK[status] == current and shown_at and at < shown_at):
        return False
    CalendarEvent.objects.filter(pk=meeting.pk).update(
        notetaker_status=status, notetaker_reason=reason[:300], notetaker_status_at=at)
    return True


def _created_at(event: NotetakerEvent) -> datetime:
    return parse_datetime(str(event.payload.get("created_at") or "")) or event.received_at


def _handle(event: NotetakerEvent) -> tuple[str, str]:
    meeting = _meeting_of(event)
    if meeting is None:
        return NotetakerEvent.Status.IGNORED, "The meeting of this bot is gone or has another bot now."
    if event.event == "bot.joined":
        _status_set(meeting, "joined", "", _created_at(event))
        return NotetakerEvent.Status.DONE, "The Notetaker joined the meeting."
    if event.event in FAILURES:
        status, sentence = FAILURES[event.event]
        data = event.payload.get("data") if isinstance(event.payload.get("data"), dict) else {}
        reason = str(data.get("reason") or "").strip()
        text = f"{sentence}: {reason}" if reason else f"{sentence}."
        _status_set(meeting, status, text, _created_at(event))
        return NotetakerEvent.Status.DONE, text
    if event.event == "bot.recording_done":
        return _recording_done(event, meeting)
    return NotetakerEvent.Status.IGNORED, f"Chorus does not use {event.event} events."


def _transcript(client: NotetakerClient, url: str, org_id: int) -> str:
    """The backend's WebVTT transcript. A backend that is down is tried again (with
    the whole import); a missing or unusable one means the audio is transcribed."""
    if not url:
        return ""
    buffer = io.BytesIO()
    try:
        client.download(url=url, dest=buffer, max_bytes=TRANSCRIPT_MAX_BYTES, content_types=TRANSCRIPT_CONTENT_TYPES)
    except NotetakerError as exc:
        if exc.transient:
            raise
        log.info("Notetaker transcript unavailable for a meeting of org %s (%s); the audio will be transcribed",
                 org_id, exc)
        return ""
    return buffer.getvalue().decode("utf-8", errors="replace")


def _people(info: dict[str, Any]) -> list[tuple[str, str]]:
    seen: dict[str, tuple[str, str]] = {}
    for p in info.get("participants") or []:
        if not isinstance(p, dict):
            continue
        email = str(p.get("email") or "").strip().lower()
        name = str(p.get("name") or "").strip()
        if (email or name) and (email or name) not in seen:
            seen[email or name] = (name, email)
    return list(seen.values())


def _already(event: NotetakerEvent, meeting: CalendarEvent) -> tuple[str, str] | None:
    existing = Engagement.objects.for_org(event.org).filter(source=SOURCE, external_id=event.bot_id).first()
    if existing is None:
        return None
    event.engagement = existing
    _status_set(meeting, "recording_done", "", _created_at(event))
    return NotetakerEvent.Status.IGNORED, f"Already imported (duplicate delivery for bot {event.bot_id})."


def _recording_done(event: NotetakerEvent, meeting: CalendarEvent) -> tuple[str, str]:
    org = event.org
    if done := _already(event, meeting):
        return done
    owner = meeting.calendar.user
    if not owner.is_active or owner.org_id != org.pk:
        return NotetakerEvent.Status.IGNORED, "The meeting's owner is no longer a Chorus user of this organization."
    if meeting.recording_disabled:
        return NotetakerEvent.Status.IGNORED, "Not imported: the owner turned recording off for this meeting."
    client = NotetakerClient()
    info = client.bot(bot_id=event.bot_id)
    if str(info.get("id", event.bot_id)) != event.bot_id:
        raise NotetakerError("The Notetaker service answered about another bot.")
    attendees = _people(info)
    blocked = next((email for _, email in attendees if email and org.is_blocklisted_email(email)), "")
    if blocked:
        return NotetakerEvent.Status.IGNORED, f"Not imported: {blocked} is on the organization's block list."
    if not info.get("recording_url"):
        return NotetakerEvent.Status.IGNORED, "The bot has no recording."
    vtt = _transcript(client, str(info.get("transcript_url") or ""), org.pk)
    max_bytes = int(settings.NOTETAKER_RECORDING_MAX_BYTES)
    # One name per bot: a retry after a worker died overwrites its own upload, nothing else.
    folder = hashlib.sha256(f"{org.pk}:{event.bot_id}".encode()).hexdigest()[:32]
    with tempfile.TemporaryFile() as tmp:
        got = client.download(url=str(info["recording_url"]), dest=tmp, max_bytes=max_bytes)
        tmp.seek(0)
        extension = {"audio/mpeg": "mp3", "audio/wav": "wav", "audio/x-wav": "wav", "video/webm": "webm",
                     "audio/webm": "webm", "audio/mp4": "m4a"}.get(got.content_type, "mp4")
        bucket, saved = storage.recording_store(org=org, name=f"recordings/notetaker/{folder}/recording.{extension}",
                                                fileobj=tmp)
    started = parse_datetime(str(info.get("started_at") or "")) or meeting.starts_at
    try:
        with transaction.atomic():
            engagement = Engagement.objects.create(
                org=org, kind=Engagement.Kind.RECORDING, source=SOURCE, external_id=event.bot_id,
                title=meeting.title[:500], started_at=started,
                duration_seconds=max(0, int(info.get("duration_seconds") or 0)), owner=owner,
            )
            engagement.recording_url = settings.CHORUS_BASE_URL + reverse("recording", args=[engagement.pk])
            engagement.save(update_fields=["recording_url"])
            Participant.objects.create(org=org, engagement=engagement, name=owner.full_name, email=owner.email,
                                       is_internal=True)
            Participant.objects.bulk_create([
                Participant(org=org, engagement=engagement, name=name[:200], email=email,
                            **org.participant_flags(email))
                for name, email in attendees if email.lower() != owner.email.lower()
            ])
            RecordingFile.objects.create(
                org=org, engagement=engagement, bucket=bucket, name=saved, file_type=extension.upper(),
                content_type=got.content_type, size=got.size, sha256=got.sha256,
            )
            CalendarEvent.objects.filter(pk=meeting.pk, engagement__isnull=True).update(engagement=engagement)
            _status_set(meeting, "recording_done", "", _created_at(event))
            # Transcript (the backend's), trackers, next steps and brief; then the ready step.
            processing_queue(org=org, engagements=[engagement], provider_transcripts={engagement.pk: vtt})
    except IntegrityError:  # another worker imported the same bot meanwhile
        if done := _already(event, meeting):
            return done
        raise
    event.engagement = engagement
    return NotetakerEvent.Status.DONE, f"Recording imported ({got.size} bytes)."
