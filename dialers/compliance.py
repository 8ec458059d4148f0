"""Compliance: "Delete Calls Without Recording Notification". A dialer call owned by
a user whose role has that option on is deleted (engagement, transcript, media)
when no recording notification is heard early in the call; the ledger row stays
as a tombstone so the call is never imported again.

Its own module because it is its own feature with its own settings page (Roles
and Permissions > Compliance). Processing hears the verdict with these settings
(:func:`notification_rules`); the ready gate acts on it before the call is announced.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from chorus.models import Engagement, Organization, User
from chorus.services import audit_record
from dialers.catalogue import CATALOGUE
from dialers.models import ComplianceSettings, DialerCall, MediaStatus
from integrations.storage.services import recording_delete_stored


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


def notification_rules(org: Organization) -> tuple[list[str], int]:
    """What processing listens for at the start of each call (registered with it)."""
    cfg = compliance_settings(org=org)
    return cfg.effective_phrases, cfg.window_seconds


def dialer_calls_compliance_gate(*, org: Organization, engagements: list[Engagement]) -> list[Engagement]:
    """The ``engagements_ready`` gate, decided once per call when processing has
    heard (or not) a recording notification: a dialer call owned by a user whose
    role has "Delete calls without recording notification" on, with no notification
    in the window, is deleted and announced to no one (no CRM task for a deleted
    call). A call whose verdict is unknown (processing failed) is kept. Enterprise only."""
    ids = [e.pk for e in engagements if e.kind == Engagement.Kind.DIALER_CALL]
    if not org.is_enterprise or not ids:
        return engagements
    cfg = compliance_settings(org=org)
    calls = (DialerCall.objects.for_org(org).filter(engagement_id__in=ids, compliance_checked_at__isnull=True)
             .select_related("engagement", "engagement__owner", "engagement__owner__role"))
    deleted, checked = set(), []
    for call in calls:
        e = call.engagement
        if e.recording_notification_detected is None:
            continue
        role = e.owner.role if e.owner_id and e.owner.role_id else None
        if role is not None and role.delete_calls_without_notification and not e.recording_notification_detected:
            deleted.add(e.pk)  # before the delete, which sets e.pk to None
            dialer_call_delete_noncompliant(
                call=call, reason=f"No recording notification in the first {cfg.window_seconds} seconds "
                                  f"(role “{role.name}” deletes calls without recording notification).")
        else:
            checked.append(call.pk)
    if checked:
        DialerCall.objects.filter(pk__in=checked).update(compliance_checked_at=timezone.now())
    return [e for e in engagements if e.pk not in deleted]
