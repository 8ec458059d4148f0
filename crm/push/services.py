"""CRM Objects Creation: the matrix, and deciding what to push for an engagement.

``engagement_push_prepare`` runs in the transaction that makes an engagement ready:
it reads the org's matrix, applies the seed's exclusion rules, and enqueues one
outbox delivery per CRM object with an idempotency key, so preparing twice makes
each object once. The senders (``crm/push/senders``) do the talking.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chorus.models import Engagement, Moment, Organization, Participant, User
from chorus.services import audit_record
from crm.models import CrmContact
from crm.providers import crm_keys, get_provider
from crm.push.body import activity_body, activity_subject, content_for
from crm.push.models import (
    CELLS,
    COLUMN_LABELS,
    ROW_COLUMNS,
    ROW_LABELS,
    CrmObjectsSettings,
    cell_name,
)
from integrations.models import Connection, ConnectionStatus, Delivery

AUDIT_ACTION = "crm_objects.update"

TASK_OR_EVENT = "Currently it is possible to create either a Task or an Event for {column}."
EVENT_UNSUPPORTED = "{crm} has no calendar events: Chorus can create a task instead."

# Which matrix column an engagement kind falls in. Dialer calls are recorded calls.
KIND_COLUMN = {
    Engagement.Kind.RECORDING: "recording",
    Engagement.Kind.DIALER_CALL: "recording",
    Engagement.Kind.EMAIL: "email",
    Engagement.Kind.UNRECORDED_MEETING: "unrecorded",
}

# Dependency order of the objects of one engagement (a sender creates them in it).
KINDS = ("account", "contact", "task", "event", "trackers", "custom_object", "transcript", "field_update")


# --- The matrix -----------------------------------------------------------------------------


def crm_connection_for_push(*, org: Organization) -> Connection | None:
    """The org's connected CRM (the same row CRM Connect shows)."""
    return (Connection.objects.for_org(org).filter(provider__in=crm_keys())
            .exclude(status=ConnectionStatus.DISCONNECTED).order_by("-updated_at").first())


def crm_objects_settings_get(*, org: Organization) -> CrmObjectsSettings:
    obj, _ = CrmObjectsSettings.objects.get_or_create(org=org)
    return obj


def crm_objects_cells_validate(*, cells: dict[str, bool], provider: str | None) -> dict[str, str]:
    """Field errors (cell name → sentence) for a matrix an admin submitted."""
    errors: dict[str, str] = {}
    unknown = set(cells) - set(CELLS)
    for name in sorted(unknown):
        errors[name] = "This setting does not exist."
    for column in ROW_COLUMNS["task"]:
        if cells.get(cell_name("task", column)) and cells.get(cell_name("event", column)):
            errors[cell_name("event", column)] = TASK_OR_EVENT.format(column=COLUMN_LABELS[column])
    crm = get_provider(provider) if provider else None
    if crm is not None and not crm.events:
        for column in ROW_COLUMNS["event"]:
            if cells.get(cell_name("event", column)):
                errors.setdefault(cell_name("event", column), EVENT_UNSUPPORTED.format(crm=crm.label))
    return errors


def crm_objects_settings_update(*, org: Organization, actor: User | None,
                                cells: dict[str, bool]) -> CrmObjectsSettings:
    """Save the matrix (cells not given are off, as an unticked checkbox) and record
    who changed what."""
    connection = crm_connection_for_push(org=org)
    errors = crm_objects_cells_validate(cells=cells, provider=connection.provider if connection else None)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        settings_row = CrmObjectsSettings.objects.select_for_update().filter(org=org).first() \
            or crm_objects_settings_get(org=org)
        changes: dict[str, list[Any]] = {}
        for name in CELLS:
            new = bool(cells.get(name, False))
            old = getattr(settings_row, name)
            if old != new:
                changes[name] = [old, new]
                setattr(settings_row, name, new)
        if changes:
            settings_row.updated_at, settings_row.updated_by = timezone.now(), actor
            settings_row.save()
            audit_record(org=org, actor=actor, action=AUDIT_ACTION, target="CRM Objects Creation", changes=changes)
    return settings_row


def crm_objects_history(*, org: Organization, limit: int = 5) -> list[dict[str, Any]]:
    from chorus.models import AuditEvent

    events = AuditEvent.objects.for_org(org).filter(action=AUDIT_ACTION).select_related("actor")[:limit]
    out = []
    for e in events:
        described = []
        for name, (_old, new) in e.changes.items():
            row, _, column = name.rpartition("_")
            described.append(f"{ROW_LABELS.get(row, row)} · {COLUMN_LABELS.get(column, column)} "
                             f"{'on' if new else 'off'}")
        out.append({"at": e.at, "actor": e.actor, "changes": described})
    return out


# --- Exclusion rules (seed: Create Tasks for Unrecorded Meetings) ---------------------------

RECORDING_TURNED_OFF = "The user asked Chorus not to record this meeting."
ONLY_INTERNAL = "Only internal or ignored participants attended."
BLOCKLISTED = "At least one participant is on the block list."


def rule_recording_turned_off(engagement: Engagement, participants: list[Participant]) -> str | None:
    return RECORDING_TURNED_OFF if engagement.recording_disabled else None


def rule_only_internal_or_ignored(engagement: Engagement, participants: list[Participant]) -> str | None:
    return None if any(not p.is_internal and not p.is_ignored for p in participants) else ONLY_INTERNAL


def rule_blocklisted_participant(engagement: Engagement, participants: list[Participant]) -> str | None:
    return BLOCKLISTED if any(p.is_blocklisted for p in participants) else None


UNRECORDED_RULES = (rule_recording_turned_off, rule_only_internal_or_ignored, rule_blocklisted_participant)


# Seed, CRM Objects Creation: "Meetings where recording is disabled, includes only
# internal or ignored participants, or has at least one block-listed participant
# will not be pushed." Meetings, recorded or not; not emails or dialer calls.
MEETING_KINDS = (Engagement.Kind.RECORDING, Engagement.Kind.UNRECORDED_MEETING)


def push_exclusion_reason(*, engagement: Engagement, participants: list[Participant]) -> str | None:
    """Why a meeting is not pushed, or None."""
    if engagement.kind not in MEETING_KINDS:
        return None
    for rule in UNRECORDED_RULES:
        if reason := rule(engagement, participants):
            return reason
    return None


# --- What to push ---------------------------------------------------------------------------


def push_key(provider: str, kind: str, ident: Any) -> str:
    """The idempotency key of one CRM object: stable across retries and re-preparation,
    and per CRM, so connecting another CRM pushes to it once too."""
    return f"crm:{provider}:{kind}:{ident}"


def _split_name(name: str, email: str) -> tuple[str, str]:
    parts = (name or "").split()
    if len(parts) >= 2:
        return " ".join(parts[:-1]), parts[-1]
    if parts:
        return "", parts[0]
    return "", re.split(r"[@.+_]", email)[0].title() or email


def _company_from_domain(domain: str) -> str:
    return domain.split(".")[0].replace("-", " ").title() if domain else ""


def push_plan(*, engagement: Engagement, settings_row: CrmObjectsSettings, provider: str) -> dict[str, bool]:
    """Which objects the matrix asks for, for this engagement's type."""
    column = KIND_COLUMN.get(engagement.kind)
    plan = {row: False for row in ROW_LABELS}
    if column is None:
        return plan
    for row, columns in ROW_COLUMNS.items():
        if column in columns:
            plan[row] = bool(getattr(settings_row, cell_name(row, column)))
    crm = get_provider(provider)
    if not crm.events or engagement.kind == Engagement.Kind.DIALER_CALL:
        plan["event"] = False
    if not crm.custom_objects:
        plan["custom_object"] = False
    if engagement.kind == Engagement.Kind.DIALER_CALL:
        # The dialer already logged the call as a CRM activity (most dialers of the
        # catalogue are read back from those very tasks): a second one would be a
        # duplicate. Trackers, the Engagement object and contacts still go.
        plan["task"] = False
    if plan["event"]:
        plan["task"] = False  # one or the other; the form refuses both
    return plan


def engagement_push_prepare(*, engagement: Engagement) -> list[Delivery]:
    """Enqueue the CRM objects the org's matrix asks for. Safe to call again: every
    object has an idempotency key, so the CRM gets one copy."""
    return engagements_push_prepare(org=engagement.org, engagements=[engagement])


def engagements_push_prepare(*, org: Organization, engagements: Iterable[Engagement]) -> list[Delivery]:
    """``engagement_push_prepare`` for many engagements of one org in a fixed number
    of queries (an import or the after-meeting pass makes hundreds at once)."""
    engagements = list(engagements)
    if any(e.org_id != org.id for e in engagements):
        raise ValueError("every engagement must belong to the organisation being pushed")
    connection = crm_connection_for_push(org=org) if engagements else None
    if connection is None:
        return []
    provider = connection.provider
    settings_row = crm_objects_settings_get(org=org)
    ids = [e.id for e in engagements]
    participants: dict[int, list[Participant]] = defaultdict(list)
    for p in Participant.objects.for_org(org).filter(engagement_id__in=ids).order_by("id"):
        participants[p.engagement_id].append(p)
    owners = {e.owner_id: e.owner for e in engagements if e.owner_id and Engagement.owner.is_cached(e)}
    owners |= User.objects.for_org(org).in_bulk({e.owner_id for e in engagements if e.owner_id} - set(owners))

    plans: list[tuple[Engagement, dict[str, bool]]] = []
    asked: list[tuple[Engagement, bool]] = []  # required CRM fields: (engagement, task pushed)
    for e in engagements:
        if push_exclusion_reason(engagement=e, participants=participants[e.id]):
            continue
        plan = push_plan(engagement=e, settings_row=settings_row, provider=provider)
        asked.append((e, plan["task"]))
        if any(plan.values()):
            plans.append((e, plan))
    moments: dict[int, list[Moment]] = defaultdict(list)
    if plans:
        for m in Moment.objects.for_org(org).filter(engagement_id__in=[e.id for e, _ in plans]).select_related(
                "tracker").order_by("at_seconds", "id"):
            moments[m.engagement_id].append(m)
    emails = {p.email.lower() for e, _ in plans for p in participants[e.id] if p.email}
    known = {c.email: c for c in CrmContact.objects.for_org(org).filter(provider=provider, email__in=sorted(emails))}

    rows: list[tuple[str, str, Any, dict]] = []
    for e, plan in plans:
        rows += _push_rows(e, plan, provider=provider, owner=owners.get(e.owner_id), participants=participants[e.id],
                           moments=moments[e.id], known=known, contacts_for_moments=settings_row.contacts_for_moments)

    from crm.push.required_fields import crm_field_requests_create_many

    with transaction.atomic():
        out = deliveries_enqueue(org=org, target=provider, rows=rows) if rows else []
        crm_field_requests_create_many(org=org, asked=asked)
    return out


def _push_rows(engagement: Engagement, plan: dict[str, bool], *, provider: str, owner: User | None,
               participants: list[Participant], moments: list[Moment], known: dict[str, CrmContact],
               contacts_for_moments: bool) -> list[tuple[str, str, Any, dict]]:
    """The outbox rows (kind, idempotency key, engagement, payload) of one engagement."""
    org = engagement.org
    content = content_for(engagement, participants=participants, moments=moments)
    external = [p for p in participants if p.email and not p.is_internal and not p.is_ignored
                and not p.is_blocklisted and not org.is_internal_email(p.email)]
    emails = sorted({p.email.lower() for p in external})
    new_people = {}
    for p in external:
        email = p.email.lower()
        if email not in known and email not in new_people:
            new_people[email] = p
    want_contacts = plan["contact"] or (plan["custom_object"] and contacts_for_moments)

    account_id = engagement.crm_account_id
    account_key = ""
    domains = sorted({e.rsplit("@", 1)[1] for e in new_people})
    if plan["account"] and not account_id and domains:
        account_key = push_key(provider, "account", domains[0])
    owner_id = (owner.external_ids or {}).get(provider, "") if owner else ""
    ends_at = engagement.started_at + timedelta(seconds=engagement.duration_seconds or 0)
    common = {
        "engagement_id": engagement.id, "owner_id": owner_id,
        "account_id": account_id, "opportunity_id": engagement.crm_opportunity_id,
        "account_key": account_key,
    }
    contact_keys = [push_key(provider, "contact", e) for e in new_people] if want_contacts else []
    who_ids = [known[e].remote_id for e in emails if e in known]

    rows: list[tuple[str, str, dict]] = []
    if account_key:
        domain = domains[0]
        rows.append(("account", account_key, {"name": _company_from_domain(domain), "domain": domain,
                                              "website": f"https://{domain}", "owner_id": owner_id}))
    if want_contacts:
        for email, p in new_people.items():
            first, last = _split_name(p.name, email)
            rows.append(("contact", push_key(provider, "contact", email), {
                "email": email, "first_name": first, "last_name": last, "title": p.title,
                "account_id": account_id, "account_key": account_key, "owner_id": owner_id}))
    activity = "event" if plan["event"] else "task" if plan["task"] else ""
    if activity:
        rows.append((activity, push_key(provider, activity, engagement.id), {
            **common, "subject": activity_subject(title=engagement.title, provider=provider),
            "body": activity_body(content, provider=provider),
            "starts_at": engagement.started_at.isoformat(), "ends_at": ends_at.isoformat(),
            "duration_seconds": engagement.duration_seconds,
            "who_ids": who_ids, "contact_keys": contact_keys,
            "trackers": content.topics if plan["tracker"] else [],
        }))
    if plan["tracker"] and content.topics and (engagement.crm_opportunity_id or account_id):
        rows.append(("trackers", push_key(provider, "trackers", engagement.id), {
            **common, "trackers": content.topics, "started_at": engagement.started_at.isoformat()}))
    if plan["custom_object"]:
        rows.append(("custom_object", push_key(provider, "custom_object", engagement.id), {
            **common, "key": push_key(provider, "engagement", engagement.id),
            "title": engagement.display_title, "kind": engagement.kind,
            "started_at": engagement.started_at.isoformat(), "duration_seconds": engagement.duration_seconds,
            "recording_url": engagement.recording_url, "who_ids": who_ids, "contact_keys": contact_keys,
            "moments": [{"key": push_key(provider, "moment", m.id), "tracker": m.tracker.name,
                         "at_seconds": m.at_seconds, "text": m.text[:1000], "speaker": m.speaker}
                        for m in moments],
        }))
    if plan["transcript"] and engagement.transcript:
        rows.append(("transcript", push_key(provider, "transcript", engagement.id), {
            **common, "title": f"Chorus transcript - {engagement.display_title}",
            "text": engagement.transcript, "activity_key": push_key(provider, activity, engagement.id)
            if activity else "", "who_ids": who_ids}))
    return [(kind, key, engagement if kind not in ("account", "contact") else None, payload)
            for kind, key, payload in rows]


def deliveries_enqueue(*, org: Organization, target: str, rows: list[tuple[str, str, Any, dict]]) -> list[Delivery]:
    """``delivery_enqueue`` for several rows in two statements: an insert that skips
    keys already queued (the outbox's unique (org, idempotency_key) — an existing
    contact delivery for the same email stays the one), then the rows by key."""
    keys = [key for _, key, _, _ in rows]
    with transaction.atomic(savepoint=False):
        Delivery.objects.bulk_create([
            Delivery(org=org, target=target, kind=kind, idempotency_key=key, engagement=engagement, payload=payload)
            for kind, key, engagement, payload in rows], ignore_conflicts=True)
        by_key = {d.idempotency_key: d for d in Delivery.objects.filter(org=org, idempotency_key__in=keys)}
    return [by_key[k] for k in keys]


# --- What happened, for the engagement's page ---------------------------------------------------

KIND_LABELS = {"task": "Task", "event": "Event", "trackers": "Tracker / metadata", "custom_object": "Custom object",
               "transcript": "Transcript", "field_update": "Required field answer"}
NOTHING_ASKED = "CRM Objects Creation creates nothing for {column} engagements."
NO_CRM = "No CRM is connected."


def engagement_deliveries(*, engagement: Engagement) -> list[Delivery]:
    """The engagement's CRM objects, and the shared contacts and account made for it
    (one row per email/domain, named in its objects' payloads) first."""
    fields = ("kind", "target", "status", "remote_id", "last_error", "attempts", "next_attempt_at", "sent_at",
              "payload")
    own = list(engagement.deliveries.order_by("id").only(*fields))
    shared = {k for d in own for k in [*(d.payload.get("contact_keys") or []), d.payload.get("account_key")] if k}
    if not shared:
        return own
    return list(Delivery.objects.for_org(engagement.org).filter(idempotency_key__in=shared)
                .order_by("kind", "id").only(*fields)) + own


def _delivery_label(d: Delivery) -> str:
    if d.kind in ("contact", "account"):
        return f"{d.kind.title()} {d.payload.get('email') or d.payload.get('domain', '')}"
    return KIND_LABELS.get(d.kind, d.kind)


def engagement_push_status(*, engagement: Engagement) -> dict[str, Any]:
    """The CRM objects of one engagement and where each stands, or why none were
    made — so an admin (or support) can answer "why isn't this call in Salesforce?"."""
    deliveries = engagement_deliveries(engagement=engagement)
    for d in deliveries:
        d.label = _delivery_label(d)
    reason = ""
    if not deliveries:
        connection = crm_connection_for_push(org=engagement.org)
        if connection is None:
            reason = NO_CRM
        else:
            reason = push_exclusion_reason(engagement=engagement, participants=list(engagement.participants.all()))
            column = KIND_COLUMN.get(engagement.kind)
            if not reason and column:
                plan = push_plan(engagement=engagement, settings_row=crm_objects_settings_get(org=engagement.org),
                                 provider=connection.provider)
                if not any(plan.values()):
                    reason = NOTHING_ASKED.format(column=COLUMN_LABELS[column])
    stuck = [d for d in deliveries if d.status in (Delivery.Status.FAILED, Delivery.Status.RETRYING)]
    return {"deliveries": deliveries, "reason": reason or "", "can_push_again": bool(stuck)}


def engagement_push_again(*, engagement: Engagement, actor: User | None) -> int:
    """An admin's "Push again" (after fixing what the CRM refused: a required field,
    a validation rule, a reconnected CRM): the engagement's failed or waiting CRM
    objects, and the contacts/account made for it, are due at once with fresh
    attempts. Audited. Returns how many."""
    from integrations.outbox import delivery_retry_now

    ids = [d.id for d in engagement_deliveries(engagement=engagement)]
    with transaction.atomic():
        count = delivery_retry_now(deliveries=Delivery.objects.for_org(engagement.org).filter(id__in=ids))
        if count:
            audit_record(org=engagement.org, actor=actor, action="crm_objects.push_again",
                         target=engagement.display_title, changes={"deliveries": [None, count]})
    return count
