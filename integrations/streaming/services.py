"""Zoom Streaming: Zoom's Custom Live Streaming Service pushes a meeting to Chorus'
RTMP ingest (nginx, :mod:`integrations.streaming.ingest`), which records it.

- ``meeting.started`` (a Zoom webhook, through conferencing's event queue): when the
  org records with Streaming, the host is a Chorus recorder and the Meeting Recording
  Rules record the meeting (its calendar meeting's decision), Chorus issues a stream
  key and asks Zoom to stream there: ``PATCH /meetings/{id}/livestream`` then
  ``PATCH /meetings/{id}/livestream/status`` ``{"action": "start"}`` (Zoom Meetings
  API, "Update a live stream" / "Update a live stream's status":
  https://developers.zoom.us/docs/api/meetings/#tag/meetings/PATCH/meetings/{meetingId}/livestream/status ;
  request body as in Zoom's own SDK types, ``MeetingsUpdateLivestreamStatusRequestBody``).
- ``on_publish``: the ingest asks whether a key may publish. Single-use means one
  *session*: the key of a meeting publishes (and publishes again after a dropped
  connection) until that meeting ended or the key expired; never for anything else.
- ``on_record_done``: a recorded piece is added to the session.
- ``meeting.ended``: the session closes; once no piece is being recorded (whichever
  comes last) the pieces are joined (ffmpeg concat), stored in the org's bucket and
  become ONE Engagement (source ``zoom``, external id = the meeting uuid, as Post Call
  Download would make it: the same meeting is never imported twice), then processing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets as pysecrets
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chorus.models import Engagement, LicenseType, Organization, Participant, User
from integrations.conferencing import detection, zoom
from integrations.conferencing.models import CalendarEvent, ZoomEvent
from integrations.conferencing.services import (
    RecordingMethod,
    zoom_connection_for_account,
)
from integrations.conferencing.zoom import ZoomError
from integrations.processing.services import processing_queue
from integrations.storage import services as storage
from integrations.storage.models import RecordingFile
from integrations.streaming.models import StreamSession

log = logging.getLogger(__name__)

PROVIDER = "zoom"
DEFAULT_DISPLAY_NAME = detection.DEFAULT_NOTETAKER_NAME
DISPLAY_NAME_MAX = 50  # Zoom: live stream display_name, 1-50 characters
CALENDAR_WINDOW = timedelta(hours=6)
FINALIZE_TASK = "integrations.streaming.tasks.stream_finalize_task"
Status = StreamSession.Status


# --- Settings ----------------------------------------------------------------------------------


def callback_secret() -> str:
    """The secret the ingest's callback URLs carry (``?secret=``): only Chorus' own
    ingest can say a key publishes or a file was recorded."""
    if settings.STREAM_CALLBACK_SECRET:
        return settings.STREAM_CALLBACK_SECRET
    return hmac.new(settings.SECRET_KEY.encode(), b"chorus.streaming.callback", hashlib.sha256).hexdigest()


def callback_allowed(secret: str | None) -> bool:
    return bool(secret) and hmac.compare_digest(str(secret).encode(), callback_secret().encode())


def record_dir() -> str:
    return settings.STREAM_RECORD_DIR or os.path.join(settings.MEDIA_ROOT, "streams")


def ingest_app() -> str:
    from urllib.parse import urlsplit

    return urlsplit(settings.STREAM_INGEST_URL).path.strip("/").split("/")[0] or "live"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# --- meeting.started ---------------------------------------------------------------------------------


class _ZoomWriter(zoom.ZoomClient):
    """The two live-stream calls: PATCH with the connection's bearer token (refreshed
    once on a 401, like ``get``). Zoom answers 204 No Content."""

    def patch(self, path: str, body: dict[str, Any]) -> None:
        import requests

        for attempt in (0, 1):
            token = self._access_token(force=attempt == 1)
            try:
                resp = self.session.patch(f"{settings.ZOOM_API_URL}{path}", data=json.dumps(body),
                                          headers={"Authorization": f"Bearer {token}",
                                                   "Content-Type": "application/json"})
            except requests.RequestException as exc:
                raise ZoomError("Chorus could not reach Zoom. Try again in a minute.", transient=True) from exc
            if resp.status_code == 401 and attempt == 0:
                continue
            if resp.status_code >= 400:
                try:
                    message = resp.json().get("message", "")
                except ValueError:
                    message = ""
                raise ZoomError(f"Zoom answered {resp.status_code}{': ' + message if message else ''}.",
                                transient=resp.status_code == 429 or resp.status_code >= 500)
            return
        raise ZoomError("Zoom no longer accepts Chorus' access: click Activate to reinstall the app.")


def _meeting(event: ZoomEvent) -> dict[str, Any]:
    return (event.payload.get("payload") or {}).get("object") or {}


def _streaming_connection(event: ZoomEvent):
    """The org's Zoom connection when it records with Streaming, else None."""
    connection = zoom_connection_for_account(account_id=event.account_id)
    if connection is None or connection.org_id != event.org_id:
        return None
    config = connection.config
    if not (config.get("streaming") and config.get("recording_method") == RecordingMethod.STREAMING):
        return None
    return connection


def _owner(connection, org: Organization, host_id: str) -> User | None:
    """The host as a Chorus recorder: by Zoom user id, else by the email Zoom gives."""
    users = User.objects.for_org(org).filter(is_active=True, license_type=LicenseType.RECORDER)
    if not host_id:
        return None
    found = users.filter(external_ids__zoom=host_id).order_by("id").first()
    if found:
        return found
    try:
        email = str(zoom.ZoomClient(connection).get(f"/users/{host_id}").get("email") or "")
    except ZoomError as exc:
        log.info("Zoom user %s unavailable for org %s: %s", host_id, org.pk, exc)
        return None
    return users.filter(email__iexact=email).order_by("id").first() if email else None


def _calendar_meeting(org: Organization, owner: User, meeting_id: str, when) -> CalendarEvent | None:
    """The calendar meeting this Zoom meeting is (its link's meeting id), nearest in
    time: the Meeting Recording Rules decided on it (``meetings.meeting_scan``)."""
    if not meeting_id:
        return None
    candidates = CalendarEvent.objects.for_org(org).filter(
        conference_provider="zoom", conference_url__contains=meeting_id, cancelled=False,
        starts_at__gte=when - CALENDAR_WINDOW, starts_at__lte=when + CALENDAR_WINDOW,
    ).select_related("calendar")
    matches = [e for e in candidates
               if any(link.meeting_id == meeting_id for link in detection.find_links(e.conference_url))]
    if not matches:
        return None
    # The host's own copy first, then the closest start.
    matches.sort(key=lambda e: (e.calendar.user_id != owner.pk, abs((e.starts_at - when).total_seconds())))
    return matches[0]


def meeting_started(event: ZoomEvent) -> tuple[str, str]:
    """Zoom ``meeting.started``: start streaming the meeting to Chorus when it is to be
    recorded. A replayed event finds the session and starts nothing again."""
    connection = _streaming_connection(event)
    if connection is None:
        return ZoomEvent.Status.IGNORED, "Streaming is not the recording method."
    org = event.org
    obj = _meeting(event)
    uuid, meeting_id = str(obj.get("uuid") or ""), str(obj.get("id") or "")
    if not uuid or not meeting_id:
        return ZoomEvent.Status.IGNORED, "The event names no meeting."
    existing = StreamSession.objects.for_org(org).filter(meeting_uuid=uuid).first()
    if existing and (existing.status != Status.FAILED or existing.ended_at):  # only a failed start is tried again
        return ZoomEvent.Status.IGNORED, f"Already handled (meeting {uuid} is {existing.get_status_display()})."
    when = parse_datetime(str(obj.get("start_time") or "")) or event.received_at
    host_id = str(obj.get("host_id") or "")
    owner = _owner(connection, org, host_id)
    if owner is None:
        return ZoomEvent.Status.IGNORED, f"The host {host_id} is not a Chorus recorder."
    meeting = _calendar_meeting(org, owner, meeting_id, when)
    if meeting is None:
        return ZoomEvent.Status.IGNORED, ("Not recorded: no calendar meeting links to this Zoom meeting, so the "
                                          "Meeting Recording Rules cannot tell whether it has external attendees.")
    if not meeting.record:
        return ZoomEvent.Status.IGNORED, f"Not recorded: {meeting.reason.removeprefix('not recorded: ')}."
    key = pysecrets.token_urlsafe(32)
    attendees = [[a.get("name") or "", str(a.get("email") or "").lower()] for a in meeting.attendees
                 if a.get("email") and not a.get("declined") and not org.is_ignored_email(a["email"])]
    values = {
        "meeting_id": meeting_id, "host_id": host_id, "topic": str(obj.get("topic") or meeting.title)[:500],
        "owner": owner, "attendees": attendees, "key_hash": key_hash(key), "status": Status.STARTING, "detail": "",
        "expires_at": timezone.now() + timedelta(seconds=int(settings.STREAM_KEY_TTL_SECONDS)),
        "started_at": when, "pieces": [], "publishes": 0, "publishing": False,
    }
    try:
        with transaction.atomic():
            if existing:  # a failed start tried again: a fresh key, the old one is dead
                session = StreamSession.objects.select_for_update().get(pk=existing.pk)
                if session.status != Status.FAILED or session.ended_at:
                    return ZoomEvent.Status.IGNORED, f"Already handled (meeting {uuid})."
                for field, value in values.items():
                    setattr(session, field, value)
                session.save()
            else:
                session = StreamSession.objects.create(org=org, meeting_uuid=uuid, **values)
    except IntegrityError:
        return ZoomEvent.Status.IGNORED, f"Already handled (meeting {uuid})."
    name = (org.notetaker_display_name or "").strip() or DEFAULT_DISPLAY_NAME
    client = _ZoomWriter(connection)
    try:
        client.patch(f"/meetings/{meeting_id}/livestream", {
            "stream_url": settings.STREAM_INGEST_URL,
            "stream_key": key,
            "page_url": settings.CHORUS_BASE_URL + reverse("recordings"),
        })
        client.patch(f"/meetings/{meeting_id}/livestream/status", {
            "action": "start",
            "settings": {"active_speaker_name": True, "display_name": name[:DISPLAY_NAME_MAX]},
        })
    except ZoomError as exc:
        StreamSession.objects.filter(pk=session.pk, status=Status.STARTING).update(
            status=Status.FAILED, detail=f"Zoom refused to stream the meeting: {exc}", key_hash=None,
            updated_at=timezone.now())
        if exc.transient:
            raise  # conferencing tries the event again later; the retry issues a new key
        return ZoomEvent.Status.FAILED, f"Zoom refused to stream the meeting: {exc}"
    StreamSession.objects.filter(pk=session.pk, status=Status.STARTING).update(
        status=Status.WAITING, updated_at=timezone.now())
    return ZoomEvent.Status.DONE, f"Zoom asked to stream meeting {meeting_id} to Chorus."


# --- meeting.ended ------------------------------------------------------------------------------------


def meeting_ended(event: ZoomEvent) -> tuple[str, str]:
    """Zoom ``meeting.ended``: close the session; the recording is made once the
    ingest finished its last piece (now, or at that piece's record_done). An end that
    arrives before its start leaves a closed session, so the late start streams nothing."""
    org = event.org
    uuid = str(_meeting(event).get("uuid") or "")
    if not uuid:
        return ZoomEvent.Status.IGNORED, "The event names no meeting."
    with transaction.atomic():
        session = StreamSession.objects.for_org(org).select_for_update().filter(meeting_uuid=uuid).first()
        if session is None:
            if _streaming_connection(event) is None:
                return ZoomEvent.Status.IGNORED, "Streaming is not the recording method."
            try:
                with transaction.atomic():
                    StreamSession.objects.create(
                        org=org, meeting_uuid=uuid, meeting_id=str(_meeting(event).get("id") or ""),
                        status=Status.FAILED, ended_at=timezone.now(),
                        detail="The meeting ended before Chorus was told it started: nothing was streamed.")
            except IntegrityError:
                pass
            return ZoomEvent.Status.IGNORED, "No stream for this meeting."
        event.engagement = session.engagement
        if session.ended_at or session.status not in StreamSession.OPEN:
            session.ended_at = session.ended_at or timezone.now()
            session.save(update_fields=["ended_at", "updated_at"])
            return ZoomEvent.Status.IGNORED, f"Already closed ({session.get_status_display()})."
        session.status, session.ended_at = Status.ENDED, timezone.now()
        session.save(update_fields=["status", "ended_at", "updated_at"])
        if not session.publishing:
            _finalize_queue(session.pk)
    return ZoomEvent.Status.DONE, "The meeting ended; its stream is being made into a recording."


# --- The ingest's callbacks ---------------------------------------------------------------------


def stream_publish(*, name: str, app: str) -> tuple[bool, str]:
    """on_publish: may this key publish? Returns (allowed, why)."""
    if app != ingest_app():
        return False, "unknown application"
    if not name or len(name) > 200:
        return False, "no stream key"
    now = timezone.now()
    with transaction.atomic():
        session = StreamSession.objects.select_for_update().filter(key_hash=key_hash(name)).first()
        if session is None:
            return False, "unknown stream key"
        if session.status not in StreamSession.OPEN:
            return False, "the meeting of this stream key is over"
        if session.expires_at and session.expires_at <= now:
            return False, "expired stream key"
        session.status, session.publishing = Status.LIVE, True
        session.publishes += 1
        session.first_published_at = session.first_published_at or now
        session.save(update_fields=["status", "publishing", "publishes", "first_published_at", "updated_at"])
    return True, f"publishing meeting {session.meeting_uuid}"


def _inside_record_dir(path: str) -> Path | None:
    root = Path(record_dir()).resolve()
    try:
        resolved = Path(path).resolve()
    except (OSError, ValueError):
        return None
    return resolved if resolved.is_relative_to(root) and resolved.is_file() else None


def stream_record_done(*, name: str, path: str) -> tuple[bool, str]:
    """on_record_done: a piece of the stream is on disk."""
    piece = _inside_record_dir(path)
    if piece is None:
        return False, "no such recording"
    if not piece.name.startswith(name + "-"):
        return False, "the file is not this stream's"
    with transaction.atomic():
        session = StreamSession.objects.select_for_update().filter(key_hash=key_hash(name)).first()
        if session is None:
            piece.unlink(missing_ok=True)
            return False, "unknown stream key"
        if str(piece) not in session.pieces:
            session.pieces = [*session.pieces, str(piece)]
        session.publishing = False
        session.save(update_fields=["pieces", "publishing", "updated_at"])
        if session.status == Status.ENDED:
            _finalize_queue(session.pk)
    return True, "recorded"


# --- The recording ----------------------------------------------------------------------------------


def _finalize_queue(session_id: int) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(FINALIZE_TASK, session_id, group="zoom-streaming"))


def _tool(name: str) -> str:
    return shutil.which(name) or name


def media_duration(path: str) -> float:
    out = subprocess.run(  # noqa: S603 (ffprobe; the file is one argument)
        [_tool("ffprobe"), "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", path],
        capture_output=True, text=True, timeout=120,
    )
    try:
        return float(out.stdout.strip())
    except ValueError:
        return 0.0


def _join(pieces: list[str], dest: str) -> None:
    """ffmpeg's concat demuxer: the pieces one after the other, without re-encoding."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        for piece in pieces:
            listing.write("file '" + piece.replace("'", "'\\''") + "'\n")
    try:
        done = subprocess.run(  # noqa: S603 (ffmpeg; the files are arguments)
            [_tool("ffmpeg"), "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", listing.name,
             "-c", "copy", "-movflags", "+faststart", dest],
            capture_output=True, text=True, timeout=3600,
        )
    finally:
        os.unlink(listing.name)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg could not join the stream: {done.stderr.strip()[-500:]}")


def _remove(pieces: list[str]) -> None:
    for piece in pieces:
        Path(piece).unlink(missing_ok=True)


STALE = timedelta(minutes=30)


def stream_sessions_sweep(*, now: datetime | None = None) -> int:
    """Sessions left behind by a lost callback or a dead worker, made into recordings
    with what was reported: an ended meeting whose last piece the ingest never reported
    (nginx restarted mid-piece) stops waiting after ``STALE``; a finalization whose
    worker died (``FINALIZING`` unchanged for ``STALE``) is run again. Every 15 minutes."""
    now = now or timezone.now()
    waiting = list(StreamSession.objects.filter(status=Status.ENDED, publishing=True, ended_at__lt=now - STALE)
                   .values_list("pk", flat=True))
    StreamSession.objects.filter(pk__in=waiting).update(publishing=False, updated_at=now)
    stuck = list(StreamSession.objects.filter(status=Status.FINALIZING, updated_at__lt=now - STALE)
                 .values_list("pk", flat=True))
    StreamSession.objects.filter(pk__in=stuck, status=Status.FINALIZING).update(status=Status.ENDED, updated_at=now)
    for pk in [*waiting, *stuck]:
        _finalize_queue(pk)
    return len(waiting) + len(stuck)


def stream_finalize(*, session_id: int) -> StreamSession | None:
    """Join the pieces into the meeting's recording, store it and make the Engagement.
    The conditional UPDATE is the claim: one worker, once."""
    if not StreamSession.objects.filter(pk=session_id, status=Status.ENDED, publishing=False).update(
            status=Status.FINALIZING, updated_at=timezone.now()):
        return None
    session = StreamSession.objects.select_related("org", "owner").get(pk=session_id)
    org = session.org
    pieces = [p for p in session.pieces if os.path.isfile(p) and os.path.getsize(p) > 0]

    def settle(status: str, detail: str, engagement: Engagement | None = None) -> StreamSession:
        session.status, session.detail, session.engagement = status, detail, engagement
        session.key_hash = None  # the key is dead
        session.save(update_fields=["status", "detail", "engagement", "key_hash", "updated_at"])
        _remove(session.pieces)
        return session

    existing = Engagement.objects.for_org(org).filter(source=PROVIDER, external_id=session.meeting_uuid).first()
    if existing:
        return settle(Status.DONE, "Already imported (the meeting has a recording).", existing)
    if not pieces:
        return settle(Status.FAILED, "Zoom did not stream anything for this meeting.")
    if session.owner is None or not session.owner.is_active:
        return settle(Status.FAILED, "The host is no longer a Chorus user.")
    digest = hashlib.sha256(f"{org.pk}:{session.meeting_uuid}".encode()).hexdigest()[:32]
    with tempfile.TemporaryDirectory(prefix="chorus-stream-") as tmp:
        joined = os.path.join(tmp, "stream.mp4")
        try:
            _join(pieces, joined)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            log.warning("Stream of meeting %s (org %s) could not be joined: %s", session.meeting_uuid, org.pk, exc)
            session.status, session.detail = Status.FAILED, str(exc)[:1000]
            session.save(update_fields=["status", "detail", "updated_at"])  # pieces kept for support
            return session
        duration = media_duration(joined)
        sha, size = hashlib.sha256(), 0
        with open(joined, "rb") as fh:
            for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                sha.update(chunk)
                size += len(chunk)
        with open(joined, "rb") as fh:
            bucket, saved = storage.recording_store(org=org, name=f"recordings/zoom/{digest}/stream.mp4",
                                                    fileobj=fh)
    owner = session.owner
    try:
        with transaction.atomic():
            engagement = Engagement.objects.create(
                org=org, kind=Engagement.Kind.RECORDING, source=PROVIDER, external_id=session.meeting_uuid,
                title=session.topic[:500], started_at=session.first_published_at or session.started_at,
                duration_seconds=round(duration), owner=owner,
            )
            engagement.recording_url = settings.CHORUS_BASE_URL + reverse("recording", args=[engagement.pk])
            engagement.save(update_fields=["recording_url"])
            Participant.objects.create(org=org, engagement=engagement, name=owner.full_name, email=owner.email,
                                       is_internal=True)
            Participant.objects.bulk_create([
                Participant(org=org, engagement=engagement, name=name[:200], email=email,
                            **org.participant_flags(email))
                for name, email in session.attendees if email and email != owner.email.lower()
            ])
            RecordingFile.objects.create(org=org, engagement=engagement, bucket=bucket, name=saved,
                                         file_type="MP4", content_type="video/mp4", size=size,
                                         sha256=sha.hexdigest())
            processing_queue(org=org, engagements=[engagement])
            settle(Status.DONE, f"Recorded {round(duration)} s in {len(pieces)} piece(s).", engagement)
    except IntegrityError:  # Post Call Download (or another worker) imported the meeting meanwhile
        storage.recording_delete_stored(bucket=bucket, name=saved)
        existing = Engagement.objects.for_org(org).filter(source=PROVIDER, external_id=session.meeting_uuid).first()
        return settle(Status.DONE, "Already imported (the meeting has a recording).", existing)
    return session

