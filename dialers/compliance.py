"""Compliance: "Delete Calls Without Recording Notification". A dialer call owned by
a user whose role has that option on is deleted (engagement, transcript, media)
when no recording notification is heard early in the call; the ledger row stays
as a tombstone so the call is never imported again.

Its own module because it is its own feature with its own settings page (Roles
and Permissions > Compliance); the import run only calls the sweep at its end.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chorus.models import Organization, User
from chorus.services import audit_record
from dialers.catalogue import CATALOGUE
from dialers.models import ComplianceSettings, DialerCall, MediaStatus
from integrations.storage.services import recording_delete_stored

TIMESTAMP = re.compile(r"^\s*[\[(]?(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:\.\d+)?[\])]?\s*")
WORDS_PER_SECOND = 2.5  # ~150 words a minute, for transcripts without timestamps


def notification_heard(*, transcript: str, phrases: list[str], window_seconds: int) -> bool:
    """Is any phrase said within the first ``window_seconds``? Lines may start with a
    timestamp (``[00:12]``, ``0:12``, ``00:00:12``); without one, time is estimated
    from the words before it."""
    words_before = 0
    for line in transcript.splitlines():
        m = TIMESTAMP.match(line)
        if m:
            at = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
            text = line[m.end():]
        else:
            at, text = words_before / WORDS_PER_SECOND, line
        if at > window_seconds:
            return False
        low = " ".join(text.lower().split())
        for phrase in phrases:
            pos = low.find(phrase)
            if pos >= 0 and (m or (words_before + len(low[:pos].split())) / WORDS_PER_SECOND <= window_seconds):
                return True
        words_before += len(text.split())
    return False


def compliance_settings(*, org: Organization) -> ComplianceSettings:
    found = ComplianceSettings.objects.filter(org=org).first()
    return found or ComplianceSettings(org=org)


MAX_PHRASES, MAX_PHRASE_LENGTH, MIN_WINDOW, MAX_WINDOW = 50, 200, 5, 600


def compliance_settings_update(*, org: Organization, actor: User | None, phrases: list[str],
                               window_seconds: int) -> ComplianceSettings:
    """Roles and Permissions > Compliance: what counts as a recording notification
    (any phrase, case-insensitive) and how early in the call it must be heard."""
    phrases = [" ".join(p.split()) for p in phrases if p.strip()]
    errors = {}
    if len(phrases) > MAX_PHRASES:
        errors["phrases"] = f"At most {MAX_PHRASES} phrases."
    elif any(len(p) > MAX_PHRASE_LENGTH for p in phrases):
        errors["phrases"] = f"Each phrase may be at most {MAX_PHRASE_LENGTH} characters."
    if not MIN_WINDOW <= window_seconds <= MAX_WINDOW:
        errors["window_seconds"] = f"Choose between {MIN_WINDOW} and {MAX_WINDOW} seconds."
    if errors:
        raise ValidationError(errors)
    current = compliance_settings(org=org)
    changes = {k: [old, new] for k, old, new in (("phrases", current.phrases, phrases),
                                                  ("window_seconds", current.window_seconds, window_seconds))
               if old != new}
    with transaction.atomic():
        current.phrases, current.window_seconds = phrases, window_seconds
        current.save()
        if changes:
            audit_record(org=org, actor=actor, action="compliance.notification_detection_changed",
                         target="Delete Calls Without Recording Notification", changes=changes)
    return current


def dialer_call_delete_noncompliant(*, call: DialerCall, reason: str) -> None:
    """Delete the engagement (transcript, participants, moments) and its media;
    keep the ledger row as a tombstone (so the call is never imported again) and an
    audit event that says who, when and why, without any of the content."""
    engagement = call.engagement
    owner = engagement.owner
    files = list(engagement.recording_files.select_related("bucket"))
    for rf in files:
        recording_delete_stored(bucket=rf.bucket, name=rf.name)
    if call.media_name and not files:  # stored before recordings were tracked per file
        default_storage.delete(call.media_name)
    media_deleted = bool(files or call.media_name)
    with transaction.atomic():
        audit_record(org=call.org, actor=None, action="dialer_call.deleted_noncompliant",
                     target=f"{CATALOGUE.get(call.dialer).label if call.dialer in CATALOGUE else call.dialer} "
                            f"call {call.external_id}",
                     changes={"reason": reason, "owner": owner.email if owner else "",
                              "role": owner.role.name if owner and owner.role_id else "",
                              "started_at": call.started_at.isoformat(),
                              "duration_seconds": engagement.duration_seconds, "media_deleted": media_deleted})
        engagement.delete()
        now = timezone.now()
        DialerCall.objects.filter(pk=call.pk).update(
            engagement=None, media_name="", media_source="", media_size=None, media_status=MediaStatus.NONE,
            deleted_at=now, deleted_reason=reason[:200], compliance_checked_at=now)


def dialer_calls_compliance_sweep(*, org: Organization, limit: int = 5000) -> int:
    """Decide once per call, when its transcript (or the detector's verdict) is
    there: calls owned by users whose role has "Delete calls without recording
    notification" on, with no notification in the window, are deleted. Enterprise only."""
    if not org.is_enterprise:
        return 0
    cfg = compliance_settings(org=org)
    phrases, window = cfg.effective_phrases, cfg.window_seconds
    calls = (DialerCall.objects.for_org(org).filter(engagement__isnull=False, compliance_checked_at__isnull=True)
             .filter(Q(engagement__recording_notification_detected__isnull=False) | ~Q(engagement__transcript=""))
             .select_related("engagement", "engagement__owner", "engagement__owner__role")[:limit])
    deleted, checked = 0, []
    for call in calls:
        e = call.engagement
        role = e.owner.role if e.owner_id and e.owner.role_id else None
        if role is not None and role.delete_calls_without_notification:
            heard = e.recording_notification_detected
            if heard is None:
                heard = notification_heard(transcript=e.transcript, phrases=phrases, window_seconds=window)
            if not heard:
                dialer_call_delete_noncompliant(
                    call=call, reason=f"No recording notification in the first {window} seconds "
                                      f"(role “{role.name}” deletes calls without recording notification).")
                deleted += 1
                continue
        checked.append(call.pk)
    if checked:
        DialerCall.objects.filter(pk__in=checked).update(compliance_checked_at=timezone.now())
    return deleted
