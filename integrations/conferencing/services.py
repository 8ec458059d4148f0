"""Native Zoom Integration: install (OAuth), settings, the streaming check and
the webhook events (recording.completed → a meeting Engagement; app
deauthorisation → disconnect). Views, tasks and tests all call these."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets as pysecrets
import tempfile
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chorus.models import Engagement, Organization, Participant, User
from chorus.services import audit_record
from integrations.conferencing import detection, zoom
from integrations.conferencing.event_retry import events_requeue_due
from integrations.conferencing.models import ZoomEvent
from integrations.conferencing.zoom import ZoomError
from integrations.models import Connection, ConnectionStatus
from integrations.processing.services import processing_queue
from integrations.storage import services as storage
from integrations.storage.models import RecordingFile

log = logging.getLogger(__name__)

PROVIDER = "zoom"
REACTIVATION_SALT = "conferencing.zoom.reactivation"
REACTIVATION_MAX_AGE = 14 * 24 * 3600


class RecordingMethod(models.TextChoices):
    STREAMING = "streaming", "Streaming"
    POST_CALL_DOWNLOAD = "post_call_download", "Zoom Post Call Download"
    NOTETAKER = "notetaker", "Chorus' Notetaker Recording Bot"


METHOD_HELP = {
    RecordingMethod.STREAMING: "The native Zoom real-time streaming method allows for high video and audio "
    "recording with the fastest processing time.",
    RecordingMethod.POST_CALL_DOWNLOAD: 'Best for companies that want to avoid Zoom\'s "live streaming" recording '
    "notification. Chorus waits for Zoom to process the recording before "
    "bringing it to Chorus for processing.",
    RecordingMethod.NOTETAKER: "Best for customers using online meeting providers that are not Zoom. "
    "The default when Zoom is not integrated.",
}
ENTERPRISE_METHODS = {RecordingMethod.POST_CALL_DOWNLOAD, RecordingMethod.NOTETAKER}
ENTERPRISE_ONLY = "Enterprise package only."
NOT_ACTIVATED = "Activate the Chorus Zoom integration first."
ALREADY_ELSEWHERE = (
    "This Zoom account is already connected to another Chorus organization. Ask Chorus support to move it."
)


class UnknownZoomAccount(Exception):
    """A signed webhook for a Zoom account no organisation has connected."""


# --- Reads ---------------------------------------------------------------------------------------


def zoom_connection_get(*, org: Organization) -> Connection | None:
    return Connection.objects.for_org(org).filter(provider=PROVIDER).order_by("-updated_at").first()


def zoom_connection_for_account(*, account_id: str) -> Connection | None:
    """The tenant of a webhook, found only by the Zoom account id it names."""
    if not account_id:
        return None
    return (
        Connection.objects.filter(provider=PROVIDER, config__account_id=account_id)
        .exclude(status=ConnectionStatus.DISCONNECTED)
        .select_related("org")
        .first()
    )


def _active(connection: Connection | None) -> bool:
    return bool(
        connection and connection.status != ConnectionStatus.DISCONNECTED and connection.config.get("account_id")
    )


def recording_method(*, org: Organization) -> str:
    connection = zoom_connection_get(org=org)
    if not _active(connection):
        return RecordingMethod.NOTETAKER
    return connection.config.get("recording_method") or RecordingMethod.NOTETAKER


def zoom_section(request, org: Organization) -> dict[str, Any]:
    """Context of Settings > Integrations > Native Zoom Integration."""
    connection = zoom_connection_get(org=org)
    active = _active(connection)
    config = connection.config if connection else {}
    post_call = active and bool(config.get("post_call_download"))
    method = recording_method(org=org)
    methods = []
    for value, label in RecordingMethod.choices:
        reason = ""
        if value in ENTERPRISE_METHODS and not org.is_enterprise:
            reason = ENTERPRISE_ONLY
        elif value != RecordingMethod.NOTETAKER and not active:
            reason = NOT_ACTIVATED
        elif value == RecordingMethod.STREAMING and not config.get("streaming"):
            reason = "Check Enable Streaming first."
        elif value == RecordingMethod.POST_CALL_DOWNLOAD and not post_call:
            reason = "Check Enable Zoom Post Call download first."
        methods.append(
            {
                "value": value,
                "label": label,
                "help": METHOD_HELP[value],
                "checked": value == method,
                "unavailable": reason,
                "enterprise": value in ENTERPRISE_METHODS,
            }
        )
    return {
        "org": org,
        "connection": connection,
        "active": active,
        "config": config,
        "enterprise": org.is_enterprise,
        "streaming": active and bool(config.get("streaming")),
        "post_call": post_call,
        "method": method,
        "methods": methods,
        "needs_reinstall": post_call and not zoom.has_recording_scope(config.get("scopes", [])),
        "reactivation_link": reactivation_link(org=org),
        "streaming_check": config.get("streaming_check"),
    }


# --- Install (OAuth) -------------------------------------------------------------------------------


def reactivation_link(*, org: Organization) -> str:
    """A link the Chorus admin copies to the Zoom admin, who installs the app for
    this org without a Chorus login. Signed (org id), valid for two weeks."""
    token = signing.dumps({"org": org.pk}, salt=REACTIVATION_SALT, compress=True)
    return settings.CHORUS_BASE_URL + reverse("zoom-reactivate", args=[token])


def reactivation_org(*, token: str) -> Organization:
    try:
        data = signing.loads(token, salt=REACTIVATION_SALT, max_age=REACTIVATION_MAX_AGE)
        return Organization.objects.get(pk=data["org"])
    except (signing.BadSignature, KeyError, TypeError, Organization.DoesNotExist) as exc:
        raise ZoomError(
            "This reactivation link is not valid or has expired (links last two weeks). "
            "Ask your Chorus admin for a new one."
        ) from exc


def zoom_oauth_begin(*, org: Organization, user: User | None, redirect_uri: str) -> tuple[str, dict[str, Any]]:
    """Start the install: the authorize URL and what the session keeps to check
    the callback (a fresh ``state`` bound to this org and user)."""
    state = pysecrets.token_urlsafe(24)
    pending = {"state": state, "org": org.pk, "user": user.pk if user else None}
    return zoom.authorize_url(state=state, redirect_uri=redirect_uri), pending


def zoom_oauth_complete(
    *, pending: dict | None, params: dict[str, str], redirect_uri: str, user: User | None
) -> Connection:
    if (
        not pending
        or not params.get("state")
        or not pysecrets.compare_digest(str(pending.get("state")), str(params["state"]))
    ):
        raise ZoomError(
            "The Zoom installation could not be verified (it was started in another browser or "
            "took too long). Click Activate to try again."
        )
    if params.get("error"):
        raise ZoomError("The Zoom installation was cancelled in Zoom; nothing was changed.")
    if not params.get("code"):
        raise ZoomError("Zoom did not send an authorization code. Click Activate to try again.")
    org = Organization.objects.get(pk=pending["org"])
    if pending.get("user") and (user is None or user.pk != pending["user"]):
        raise PermissionDenied("The installation was started by another Chorus user.")
    payload = zoom.exchange_code(code=params["code"], redirect_uri=redirect_uri)
    secrets, scopes = zoom.tokens_from(payload)
    account = zoom.me(access_token=secrets["access_token"])
    account_id = str(account.get("account_id") or "")
    if not account_id:
        raise ZoomError("Zoom did not say which account installed the app. Click Activate to try again.")
    with transaction.atomic():
        other = zoom_connection_for_account(account_id=account_id)
        if other and other.org_id != org.pk:
            raise ZoomError(ALREADY_ELSEWHERE)
        connection = zoom_connection_get(org=org) or Connection(org=org, provider=PROVIDER, config={})
        config = dict(connection.config)
        if config.get("account_id") and config["account_id"] != account_id:
            config = {k: v for k, v in config.items() if k not in ("streaming_check",)}
        config.update(
            {
                "account_id": account_id,
                "installed_by_email": account.get("email", ""),
                "scopes": scopes,
                "installed_at": timezone.now().isoformat(),
            }
        )
        config.setdefault("streaming", True)
        config.setdefault("recording_method", RecordingMethod.STREAMING)
        connection.config, connection.secrets = config, secrets
        connection.status, connection.last_error, connection.last_run_at = ConnectionStatus.OK, "", timezone.now()
        connection.connected_by = user if user and user.org_id == org.pk else connection.connected_by
        connection.save()
        audit_record(
            org=org,
            actor=user,
            action="zoom.activated",
            target=account.get("email", ""),
            changes={"scopes": [None, scopes]},
        )
    return connection


def zoom_disconnect(*, connection: Connection, actor: User | None, reason: str) -> None:
    """Forget Zoom's tokens; settings stay so a reinstall picks up where it was."""
    connection.status = ConnectionStatus.DISCONNECTED
    connection.secrets = {}
    connection.last_error = reason
    with transaction.atomic():
        connection.save(update_fields=["status", "secrets", "last_error", "updated_at"])
        audit_record(org=connection.org, actor=actor, action="zoom.disconnected", target=reason)


# --- Settings ---------------------------------------------------------------------------------------


def zoom_settings_update(
    *, org: Organization, actor: User | None, streaming: bool, post_call_download: bool, method: str
) -> Connection:
    """Enable Streaming / Enable Zoom Post Call download / recording method.
    Post-call download and the Notetaker bot are Enterprise-only (seed); a
    method must have its option enabled."""
    connection = zoom_connection_get(org=org)
    if not _active(connection):
        raise ValidationError({"__all__": NOT_ACTIVATED})
    errors = {}
    if method not in RecordingMethod.values:
        errors["recording_method"] = "Choose a recording method."
    if post_call_download and not org.is_enterprise:
        errors["post_call_download"] = "Zoom Post Call download is available with the Enterprise package only."
    if method in ENTERPRISE_METHODS and not org.is_enterprise:
        errors["recording_method"] = f"{RecordingMethod(method).label} is available with the Enterprise package only."
    elif method == RecordingMethod.STREAMING and not streaming:
        errors["recording_method"] = "Streaming needs Enable Streaming checked."
    elif method == RecordingMethod.POST_CALL_DOWNLOAD and not post_call_download:
        errors["recording_method"] = "Zoom Post Call Download needs Enable Zoom Post Call download checked."
    if errors:
        raise ValidationError(errors)
    before = {k: connection.config.get(k) for k in ("streaming", "post_call_download", "recording_method")}
    after = {"streaming": streaming, "post_call_download": post_call_download, "recording_method": method}
    changes = {k: [before[k], v] for k, v in after.items() if before[k] != v}
    if changes:
        connection.config = {**connection.config, **after}
        with transaction.atomic():
            connection.save(update_fields=["config", "updated_at"])
            audit_record(org=org, actor=actor, action="zoom.settings_changed", changes=changes)
    return connection


def zoom_streaming_check(*, org: Organization, link: str) -> tuple[bool, str]:
    """ "Verify Streaming is activated": read the meeting's host and their
    in-meeting settings (Custom Live Streaming Service must be on)."""
    connection = zoom_connection_get(org=org)
    if not _active(connection):
        raise ValidationError(NOT_ACTIVATED)
    found = detection.find_links(link)
    zoom_links = [f for f in found if f.provider.key == "zoom" and f.meeting_id]
    if not zoom_links:
        raise ValidationError("Paste a Zoom meeting link, like https://acme.zoom.us/j/1234567890.")
    meeting_id = zoom_links[0].meeting_id
    client = zoom.ZoomClient(connection)
    meeting = client.get(f"/meetings/{meeting_id}")
    host_id = meeting.get("host_id", "")
    host_email = meeting.get("host_email", "")
    if host_email and not org.is_internal_email(host_email):
        raise ValidationError(
            f"This meeting is hosted by {host_email}, outside your organization: "
            "use a meeting one of your colleagues hosts."
        )
    user_settings = client.get(f"/users/{host_id}/settings")
    in_meeting = user_settings.get("in_meeting", {})
    ok = bool(in_meeting.get("allow_live_streaming") and in_meeting.get("custom_live_streaming_service"))
    who = host_email or "the host"
    message = (
        f"Streaming is activated for {who}."
        if ok
        else f"Streaming is not activated for {who}. In Zoom, go to Settings > Meeting > Advanced > "
        "Allow live streaming of meetings and turn on Custom Live Streaming Service."
    )
    connection.config = {
        **connection.config,
        "streaming_check": {"ok": ok, "message": message, "at": timezone.now().isoformat()},
    }
    connection.save(update_fields=["config", "updated_at"])
    return ok, message


# --- Webhook events ---------------------------------------------------------------------------------


def _dedupe_key(payload: dict[str, Any]) -> str:
    identity = json.dumps(
        [payload.get("event"), payload.get("event_ts"), payload.get("payload")], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(identity.encode()).hexdigest()


def zoom_event_accept(*, payload: dict[str, Any]) -> ZoomEvent | None:
    """Record a verified event and queue it once the row is committed. Returns
    None for a delivery already accepted (a replay or a Zoom retry)."""
    account_id = str((payload.get("payload") or {}).get("account_id") or "")
    connection = zoom_connection_for_account(account_id=account_id)
    if connection is None:
        raise UnknownZoomAccount(account_id)
    try:
        with transaction.atomic():
            event = ZoomEvent.objects.create(
                org=connection.org,
                event=str(payload.get("event", ""))[:64],
                account_id=account_id,
                dedupe_key=_dedupe_key(payload),
                payload=payload,
            )
    except IntegrityError:
        return None
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("integrations.conferencing.tasks.zoom_event_process_task", event.pk, group="zoom-events")
    )
    return event


# Zoom unreachable or busy: try again after 5, 10, 20, 40 minutes — well inside the
# 24 hours a webhook's download token lasts — then leave it to support.
ZOOM_EVENT_MAX_ATTEMPTS = 5
ZOOM_EVENT_RETRY_BASE = timedelta(minutes=5)
ZOOM_EVENT_LEASE = timedelta(hours=1)  # a worker silent this long is presumed dead


def zoom_event_process(*, event_id: int) -> ZoomEvent | None:
    """Work one queued event. The conditional UPDATE is the claim, so two workers
    never process the same row. Transient failures are retried on a schedule
    (``zoom_events_retry_due``); the rest fail with a sentence for support."""
    now = timezone.now()
    if not ZoomEvent.objects.filter(pk=event_id, status=ZoomEvent.Status.QUEUED).update(
        status=ZoomEvent.Status.PROCESSING, next_attempt_at=now + ZOOM_EVENT_LEASE
    ):
        return None
    event = ZoomEvent.objects.select_related("org").get(pk=event_id)
    handler = EVENT_HANDLERS.get(event.event)
    transient = False
    try:
        if handler is None:
            status, detail = ZoomEvent.Status.IGNORED, f"Chorus does not use {event.event} events."
        else:
            status, detail = handler(event)
    except ZoomError as exc:
        status, detail, transient = ZoomEvent.Status.FAILED, str(exc), exc.transient
    except Exception:
        log.exception("Zoom event %s failed", event.pk)
        status, detail, transient = ZoomEvent.Status.FAILED, "Unexpected error; Chorus support has the details.", True
    event.next_attempt_at = None
    if transient and event.attempts + 1 < ZOOM_EVENT_MAX_ATTEMPTS:
        event.next_attempt_at = timezone.now() + ZOOM_EVENT_RETRY_BASE * 2**event.attempts
        status = ZoomEvent.Status.RETRYING
        detail = f"{detail} Chorus tries again at {timezone.localtime(event.next_attempt_at):%H:%M}."
    if transient:
        event.attempts += 1
    event.status, event.detail, event.processed_at = status, detail, timezone.now()
    if status not in (ZoomEvent.Status.FAILED, ZoomEvent.Status.RETRYING):  # settled: no more need of the token
        event.payload = {k: v for k, v in event.payload.items() if k != "download_token"}
    event.save(update_fields=["status", "detail", "processed_at", "engagement", "payload", "attempts",
                              "next_attempt_at"])
    return event


def zoom_events_retry_due(*, now: datetime | None = None) -> int:
    """Every few minutes: events due again (Zoom was unreachable or busy), or whose
    worker died mid-way, are queued."""
    from django_q.tasks import async_task

    def queue(pk: int) -> None:
        transaction.on_commit(lambda: async_task(
            "integrations.conferencing.tasks.zoom_event_process_task", pk, group="zoom-events"))

    return events_requeue_due(ZoomEvent, now=now or timezone.now(), queue=queue)


def _connection_of(event: ZoomEvent) -> Connection | None:
    """Re-resolve by account id *and* the event's org: an account moved to another
    org after the event was queued never writes into the new one."""
    connection = zoom_connection_for_account(account_id=event.account_id)
    return connection if connection and connection.org_id == event.org_id else None


def _pick_file(files: list[dict[str, Any]]) -> dict[str, Any] | None:
    usable = [f for f in files if f.get("download_url") and f.get("status", "completed") == "completed"]
    for wanted in ("MP4", "M4A"):
        matches = [f for f in usable if str(f.get("file_type", "")).upper() == wanted]
        if matches:
            preferred = [f for f in matches if f.get("recording_type") == "shared_screen_with_speaker_view"]
            return (preferred or matches)[0]
    return None


def _owner(org: Organization, host_email: str, host_id: str) -> User | None:
    q = models.Q(external_ids__zoom=host_id) if host_id else models.Q(pk__in=[])
    if host_email:
        q |= models.Q(email__iexact=host_email)
    return User.objects.for_org(org).filter(is_active=True).filter(q).order_by("id").first()


def _seconds_between(start: str | None, end: str | None) -> int | None:
    a, b = parse_datetime(start or ""), parse_datetime(end or "")
    return int((b - a).total_seconds()) if a and b and b >= a else None


def _recording_completed(event: ZoomEvent) -> tuple[str, str]:
    connection = _connection_of(event)
    if connection is None:
        return ZoomEvent.Status.IGNORED, "The Zoom integration is no longer active for this organization."
    if not (
        connection.config.get("post_call_download")
        and connection.config.get("recording_method") == RecordingMethod.POST_CALL_DOWNLOAD
    ):
        return ZoomEvent.Status.IGNORED, "Zoom Post Call Download is not the recording method."
    org = event.org
    obj = (event.payload.get("payload") or {}).get("object") or {}
    uuid = str(obj.get("uuid") or obj.get("id") or "")
    if not uuid:
        return ZoomEvent.Status.IGNORED, "The event names no meeting."
    existing = Engagement.objects.for_org(org).filter(source=PROVIDER, external_id=uuid).first()
    if existing:
        event.engagement = existing
        return ZoomEvent.Status.IGNORED, f"Already imported (duplicate delivery of meeting {uuid})."
    owner = _owner(org, str(obj.get("host_email", "")), str(obj.get("host_id", "")))
    if owner is None:
        return ZoomEvent.Status.IGNORED, f"The host {obj.get('host_email') or obj.get('host_id')} is not a Chorus user."
    chosen = _pick_file(obj.get("recording_files") or [])
    if chosen is None:
        return ZoomEvent.Status.IGNORED, "The meeting has no finished audio or video file."
    max_bytes = int(settings.ZOOM_RECORDING_MAX_BYTES)
    if int(chosen.get("file_size") or 0) > max_bytes:
        raise ZoomError(f"The recording is larger than the {max_bytes // (1024 * 1024)} MB limit.")
    attendees = _meeting_participants(connection, uuid)
    blocked = next((email for _, email in attendees if org.is_blocklisted_email(email)), "")
    if blocked:
        return ZoomEvent.Status.IGNORED, f"Not imported: {blocked} is on the organization's block list."
    token = str(event.payload.get("download_token") or "")
    file_type = str(chosen.get("file_type", "")).upper()
    name = (
        f"recordings/zoom/{hashlib.sha256(f'{org.pk}:{uuid}'.encode()).hexdigest()[:32]}/"
        f"{chosen.get('id') or 'recording'}.{file_type.lower() or 'bin'}"
    )
    vtt = _zoom_transcript(obj.get("recording_files") or [], token=token, org=org)
    with tempfile.TemporaryFile() as tmp:
        got = zoom.download(url=chosen["download_url"], token=token, dest=tmp, max_bytes=max_bytes)
        tmp.seek(0)
        bucket, saved = storage.recording_store(org=org, name=name, fileobj=tmp)
    started = parse_datetime(str(obj.get("start_time") or chosen.get("recording_start") or "")) or event.received_at
    duration = (
        _seconds_between(chosen.get("recording_start"), chosen.get("recording_end"))
        or int(obj.get("duration") or 0) * 60
    )
    try:
        with transaction.atomic():
            engagement = Engagement.objects.create(
                org=org,
                kind=Engagement.Kind.RECORDING,
                source=PROVIDER,
                external_id=uuid,
                title=str(obj.get("topic") or "")[:500],
                started_at=started,
                duration_seconds=duration,
                owner=owner,
            )
            engagement.recording_url = settings.CHORUS_BASE_URL + reverse("recording", args=[engagement.pk])
            engagement.save(update_fields=["recording_url"])
            Participant.objects.create(
                org=org, engagement=engagement, name=owner.full_name, email=owner.email, is_internal=True
            )
            Participant.objects.bulk_create(
                [
                    Participant(
                        org=org,
                        engagement=engagement,
                        name=name[:200],
                        email=email,
                        **org.participant_flags(email),
                    )
                    for name, email in attendees
                    if email.lower() != owner.email.lower()
                ]
            )
            RecordingFile.objects.create(
                org=org,
                engagement=engagement,
                bucket=bucket,
                name=saved,
                file_type=file_type,
                content_type=got.content_type,
                size=got.size,
                sha256=got.sha256,
            )
            # Transcript, trackers, next steps and brief; then account matching, CRM
            # Objects Creation, the owner's email and whatever else listens.
            processing_queue(org=org, engagements=[engagement], provider_transcripts={engagement.pk: vtt})
    except IntegrityError:  # another worker imported the same meeting meanwhile
        if not RecordingFile.objects.filter(bucket=bucket, name=saved).exists():
            storage.recording_delete_stored(bucket=bucket, name=saved)
        event.engagement = Engagement.objects.for_org(org).filter(source=PROVIDER, external_id=uuid).first()
        return ZoomEvent.Status.IGNORED, f"Already imported (duplicate delivery of meeting {uuid})."
    event.engagement = engagement
    return ZoomEvent.Status.DONE, f"Recording imported ({got.size} bytes)."


TRANSCRIPT_MAX_BYTES = 20 * 1024 * 1024
TRANSCRIPT_CONTENT_TYPES = ("text/vtt", "text/plain", "application/octet-stream", "binary/octet-stream")


def _zoom_transcript(files: list[dict[str, Any]], *, token: str, org: Organization) -> str:
    """Zoom's own transcript of the meeting (the ``TRANSCRIPT`` file, WebVTT, listed
    beside the audio when the account has audio transcripts on), fetched with the same
    download token. Best effort: without it processing transcribes the audio."""
    found = next((f for f in files if str(f.get("file_type", "")).upper() == "TRANSCRIPT"
                  and f.get("download_url") and f.get("status", "completed") == "completed"), None)
    if found is None:
        return ""
    buffer = io.BytesIO()
    try:
        zoom.download(url=found["download_url"], token=token, dest=buffer, max_bytes=TRANSCRIPT_MAX_BYTES,
                      content_types=TRANSCRIPT_CONTENT_TYPES)
    except ZoomError as exc:
        log.info("Zoom transcript unavailable for a meeting of org %s (%s); the audio will be transcribed",
                 org.pk, exc)
        return ""
    return buffer.getvalue().decode("utf-8", errors="replace")


def _meeting_participants(connection: Connection, uuid: str) -> list[tuple[str, str]]:
    """Who attended, from Zoom's past-meeting report (for account matching).
    Best effort: the recording is imported even when the report is unavailable."""
    encoded = quote(uuid, safe="")
    if uuid.startswith("/") or "//" in uuid:  # Zoom's rule: such UUIDs are encoded twice
        encoded = quote(encoded, safe="")
    try:
        data = zoom.ZoomClient(connection).get(f"/past_meetings/{encoded}/participants?page_size=300")
    except ZoomError as exc:
        log.info("Zoom participants unavailable for a meeting of org %s: %s", connection.org_id, exc)
        return []
    seen: dict[str, tuple[str, str]] = {}
    for p in data.get("participants", []):
        email = str(p.get("user_email") or "").strip().lower()
        name = str(p.get("name") or "").strip()
        key = email or name
        if key and key not in seen:
            seen[key] = (name, email)
    return list(seen.values())


READY_SUBJECT = "Your recording is ready: {title}"
READY_BODY = (
    "Hi {name},\n\nYour Zoom meeting “{title}” ({when}) has been processed and is ready in Chorus:\n{url}\n\n— Chorus"
)


# The email is its own job: a mail server that is down or refuses is logged and tried
# again after 5, 10, 20, 40 minutes, and never fails (or delays) the import.
READY_EMAIL_MAX_ATTEMPTS = 5
READY_EMAIL_RETRY_BASE = timedelta(minutes=5)
READY_EMAIL_TASK = "integrations.conferencing.tasks.recording_ready_email_task"


def recording_ready_email_listener(*, org: Organization, engagements: list[Engagement]) -> None:
    """The ``engagements_ready`` listener: Zoom recordings email their owner."""
    for engagement in engagements:
        if engagement.source == PROVIDER and engagement.kind == Engagement.Kind.RECORDING:
            recording_ready_email_queue(engagement=engagement)


def recording_ready_email_queue(*, engagement: Engagement) -> None:
    """Queue the owner's "your recording is ready" email once the import commits."""
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(READY_EMAIL_TASK, engagement.pk, group="zoom-email"))


def recording_ready_email_send(*, engagement_id: int, attempt: int = 1) -> str:
    """Send the recording-ready email; on failure log it and schedule another try
    (up to ``READY_EMAIL_MAX_ATTEMPTS``). Returns what happened."""
    engagement = Engagement.objects.select_related("owner").filter(pk=engagement_id).first()
    if engagement is None or engagement.owner is None or not engagement.owner.email:
        return "skipped"
    try:
        _notify_ready(engagement=engagement)
    except Exception:
        log.warning("Recording-ready email for engagement %s could not be sent (attempt %d of %d)", engagement_id,
                    attempt, READY_EMAIL_MAX_ATTEMPTS, exc_info=True)
        if attempt >= READY_EMAIL_MAX_ATTEMPTS:
            return "failed"
        from django_q.models import Schedule
        from django_q.tasks import schedule

        schedule(READY_EMAIL_TASK, engagement_id, attempt + 1, schedule_type=Schedule.ONCE, repeats=-1,
                 next_run=timezone.now() + READY_EMAIL_RETRY_BASE * 2 ** (attempt - 1),
                 name=f"recording-ready email {engagement_id} (attempt {attempt + 1})")
        return "retrying"
    return "sent"


def _notify_ready(*, engagement: Engagement) -> None:
    owner = engagement.owner
    if owner is None or not owner.email:
        return
    when = timezone.localtime(engagement.started_at).strftime("%b %-d, %Y %H:%M %Z")
    send_mail(
        READY_SUBJECT.format(title=engagement.display_title),
        READY_BODY.format(
            name=owner.first_name or owner.email,
            title=engagement.display_title,
            when=when,
            url=engagement.recording_url,
        ),
        None,
        [owner.email],
        fail_silently=False,
    )


def _app_deauthorized(event: ZoomEvent) -> tuple[str, str]:
    connection = _connection_of(event)
    if connection is None:
        return ZoomEvent.Status.IGNORED, "Already disconnected."
    when = (event.payload.get("payload") or {}).get("deauthorization_time") or timezone.now().isoformat()
    zoom_disconnect(
        connection=connection,
        actor=None,
        reason=f"The Chorus app was removed from Zoom ({when}). Click Activate to reinstall it.",
    )
    return ZoomEvent.Status.DONE, "Disconnected: the app was removed from Zoom."


EVENT_HANDLERS = {
    "recording.completed": _recording_completed,
    "app_deauthorized": _app_deauthorized,
}


def register_zoom_event_handler(event: str, handler) -> None:
    """Another app reacts to a Zoom event type conferencing does not handle itself
    (Zoom Streaming: ``meeting.started`` / ``meeting.ended``), registered in its
    ``AppConfig.ready``. ``handler(event: ZoomEvent) -> (status, detail)``, like the
    ones above; it may set ``event.engagement``. Conferencing's own handlers win."""
    EVENT_HANDLERS.setdefault(event, handler)
