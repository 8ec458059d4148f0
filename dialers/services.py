"""Dialer connections as the settings page sees them: the reads, why a dialer
cannot be connected now, connect / edit / activate / disconnect, queueing imports
(on connect, "Import now", the hourly schedule) and what each connection's row
shows. Views, the admin and other apps' pages call this module.

The work itself lives beside it: the import run in :mod:`dialers.import_run`,
recording downloads in :mod:`dialers.media`, compliance deletion in
:mod:`dialers.compliance`. What callers have always imported from here
(``compliance_settings``, ``dialer_import_run``…) is re-exported (``__all__``), so
``dialers.services`` stays the app's one entry point.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from chorus.models import Organization, User
from chorus.services import audit_record
from dialers.catalogue import (
    BLANK_FIELD,
    CATALOGUE,
    READS_ANOTHER_CRM,
    ZOOM_PHONE,
    Dialer,
    dialers_search,
)
from dialers.compliance import (
    compliance_settings,
    compliance_settings_update,
    dialer_calls_compliance_gate,
    notification_rules,
)
from dialers.import_run import crm_connection_for, dialer_calls_import, dialer_import_run
from dialers.media import MEDIA_MAX_ATTEMPTS
from dialers.models import DialerCall, MediaStatus
from integrations.models import Connection, ConnectionStatus
from integrations.registry import PROVIDERS

__all__ = [  # the entry points of the dialers app (views, tasks, other apps' pages)
    "compliance_settings", "compliance_settings_update", "crm_connection_for", "dialer_calls_compliance_gate",
    "dialer_calls_import", "dialer_choices", "dialer_connect_refusal", "dialer_connection_for", "dialer_connections",
    "dialer_disconnect", "dialer_import_queue", "dialer_import_request", "dialer_import_run", "dialer_imports_due",
    "dialer_media_problems", "dialer_save", "dialer_status", "dialer_zoom_phone_activate", "media_problem_rows",
    "media_summary", "notification_rules",
]

S = ConnectionStatus
MEDIA_PROBLEMS_ON_ROW = 5  # calls without a recording listed on the dialer's row; the rest on its Recordings page
NEEDS_CRM = ("Connect your CRM first: {label} calls are read from your CRM, so Salesforce, HubSpot or Microsoft "
             "Dynamics must be connected under CRM Connect. Only HubSpot Dialer and Zoom Phone import without a CRM.")
# What a row of Add a New Dialer says when its Select cannot lead to an import now.
NEEDS_CRM_ROW = "Needs a CRM connection (CRM Connect)"
NOT_IMPORTABLE_ROW = "Chorus cannot import it automatically yet"
ONLY_CRM_ROW = "Works with {crm} only"


# --- Reads -------------------------------------------------------------------------------------------


def dialer_connections(*, org: Organization):
    return (Connection.objects.for_org(org).filter(provider__in=list(CATALOGUE))
            .exclude(status=S.DISCONNECTED).select_related("connected_by"))


def dialer_connection_for(*, org: Organization, key: str) -> Connection | None:
    return dialer_connections(org=org).filter(provider=key).order_by("-updated_at").first()


def dialer_connect_refusal(*, org: Organization, dialer: Dialer, crm: Connection | None = None) -> str:
    """Why this dialer cannot be connected now (a sentence for the page), or ``""``."""
    crm = crm if crm is not None else crm_connection_for(org=org)
    if not dialer.importable:
        return dialer.no_api
    if dialer.requires_crm and crm is None:
        return dialer.no_api or NEEDS_CRM.format(label=dialer.label)
    if _works_with_another_crm(dialer, crm):
        return dialer.only_crm_refusal or READS_ANOTHER_CRM.format(label=dialer.label, crm=_only_crm_label(dialer))
    return ""


def _works_with_another_crm(dialer: Dialer, crm: Connection | None) -> bool:
    """The dialer works with one CRM only, and another one is connected."""
    return bool(dialer.only_crm_key) and crm is not None and crm.provider != dialer.only_crm_key


def _only_crm_label(dialer: Dialer) -> str:
    provider = PROVIDERS.get(dialer.only_crm_key)
    return provider.label if provider else dialer.only_crm_key


def dialer_choices(*, org: Organization, query: str = "") -> list[dict[str, Any]]:
    """The rows of Add a New Dialer: each dialer, whether it is connected, and — when
    its Select cannot lead to an import now — a short reason on the row (the form
    says it in full). Without a CRM, the dialers that need one cannot be selected."""
    crm = crm_connection_for(org=org)
    connected = set(dialer_connections(org=org).values_list("provider", flat=True))
    rows = []
    for dialer in dialers_search(query):
        note, selectable, needs_crm = "", True, False
        if not dialer.importable:
            note = NOT_IMPORTABLE_ROW
        elif dialer.requires_crm and crm is None:
            note, selectable, needs_crm = NEEDS_CRM_ROW, False, True
        elif _works_with_another_crm(dialer, crm):
            note = ONLY_CRM_ROW.format(crm=_only_crm_label(dialer))
        rows.append({"dialer": dialer, "connected": dialer.key in connected, "note": note,
                     "selectable": selectable, "needs_crm": needs_crm,
                     "no_crm_needed": dialer.importable and not dialer.requires_crm})
    return rows


# --- Connect, edit, disconnect --------------------------------------------------------------------------


def _changed_names(old: dict, new: dict) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def dialer_save(*, org: Organization, dialer: Dialer, values: dict[str, Any], actor: User | None,
                connection: Connection | None = None) -> Connection:
    """"Sync Dialer" (new) or Save (edit). Secret fields left blank on an edit keep
    their stored value: secrets are never sent back to the browser."""
    crm = crm_connection_for(org=org)
    refusal = dialer_connect_refusal(org=org, dialer=dialer, crm=crm)
    if refusal:
        raise ValidationError(refusal)
    connection = connection or dialer_connection_for(org=org, key=dialer.key)
    old_secrets = dict(connection.secrets) if connection else {}
    old_config = dict(connection.config) if connection else {}
    config = {k: v for k, v in old_config.items()}
    secrets = dict(old_secrets)
    errors: dict[str, str] = {}
    for f in dialer.credentials_asked(crm.provider if crm is not None else ""):
        value = str(values.get(f.name) or "").strip()
        if f.secret:
            if value:
                secrets[f.name] = value
            elif not secrets.get(f.name):
                errors[f.name] = f"Enter your {f.label}."
        else:
            if not value:
                errors[f.name] = f"Enter your {f.label}."
            config[f.name] = value
    crm_field = str(values.get("crm_field") or "").strip()
    if dialer.crm_field == BLANK_FIELD:
        crm_field = ""
    if crm_field and not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,79}$", crm_field):
        errors["crm_field"] = "Enter the field's API name (letters, digits and underscores, e.g. Call_Recording__c)."
    elif dialer.crm_field_required and not crm_field:
        errors["crm_field"] = "Select the CRM field that holds the call recording URL (e.g. Call_Recording__c)."
    if errors:
        raise ValidationError(errors)
    if dialer.asks_crm_field:
        config["crm_field"] = crm_field
    created = connection is None
    with transaction.atomic():
        if created:
            connection = Connection(org=org, provider=dialer.key, connected_by=actor)
        connection.config = config
        connection.secrets = secrets
        if created or connection.status == S.FAILED:
            connection.last_error = ""
        if created:
            connection.status = S.QUEUED
            connection.config.setdefault("activated", dialer.family != ZOOM_PHONE)
        connection.save()
        audit_record(org=org, actor=actor, action="dialer.connected" if created else "dialer.updated",
                     target=dialer.label,
                     changes={"fields": _changed_names(old_config, config) + _changed_names(old_secrets, secrets)})
    if created and connection.config.get("activated"):
        dialer_import_queue(connection=connection)
    return connection


def dialer_zoom_phone_activate(*, connection: Connection, actor: User | None) -> Connection:
    """Zoom Phone Integration > Activate (after Complete): the import starts."""
    connection.config = {**connection.config, "activated": True}
    connection.status = S.QUEUED
    connection.save(update_fields=["config", "status", "updated_at"])
    audit_record(org=connection.org, actor=actor, action="dialer.activated",
                 target=CATALOGUE[connection.provider].label)
    dialer_import_queue(connection=connection)
    return connection


def dialer_disconnect(*, connection: Connection, actor: User | None) -> Connection:
    """Forget the credentials and stop importing; imported calls stay."""
    connection.status = S.DISCONNECTED
    connection.secrets = {}
    connection.config = {k: v for k, v in connection.config.items() if k not in ("progress",)}
    connection.save()
    audit_record(org=connection.org, actor=actor, action="dialer.disconnected",
                 target=CATALOGUE[connection.provider].label)
    return connection


# --- Scheduling ---------------------------------------------------------------------------------------------


def dialer_import_queue(*, connection: Connection) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task("dialers.tasks.dialer_import_task", connection.pk,
                                             group="dialer-import"))


def dialer_import_request(*, connection: Connection) -> None:
    """"Import now" on the page: visible at once as queued."""
    if connection.status == S.SYNCING:
        return
    Connection.objects.filter(pk=connection.pk).update(status=S.QUEUED, updated_at=timezone.now())
    connection.status = S.QUEUED
    dialer_import_queue(connection=connection)


DIALER_IMPORT_JOB = "dialer_import"


def dialer_imports_due() -> int:
    """The hourly schedule's tick: one task per active dialer connection
    (integrations/scheduler.py: a lease per connection, per-provider caps)."""
    from integrations.scheduler import scheduler_tick

    return scheduler_tick(DIALER_IMPORT_JOB)["queued"]


def dialer_import_due_units(now):
    """Every active dialer connection (one running is skipped by the tick, which sees
    its lease)."""
    from integrations.scheduler import Unit

    rows = (Connection.objects.filter(provider__in=list(CATALOGUE)).exclude(status=S.DISCONNECTED)
            .values_list("pk", "org_id", "provider", "config"))
    return [Unit.of_row("connection", pk, org_id, provider)
            for pk, org_id, provider, config in rows if (config or {}).get("activated", True)]


def dialer_import_unit_run(unit) -> dict[str, Any]:
    from integrations.scheduler import connection_of

    connection = connection_of(unit, CATALOGUE)
    return dialer_import_run(connection=connection) if connection else {"skipped": "connection gone"}


# --- Page context --------------------------------------------------------------------------------------------


def dialer_status(connection: Connection) -> dict[str, Any]:
    """What one connection's row shows: status, progress, last import, counts, error."""
    config = connection.config
    progress = config.get("progress") or {}
    percent = None
    if progress.get("windows"):
        percent = min(100, int(100 * progress.get("window", 0) / progress["windows"]))
    dialer = CATALOGUE[connection.provider]
    media = media_summary(connection=connection)
    return {
        "connection": connection, "dialer": dialer, "progress": progress, "percent": percent,
        "media": media,
        "media_problems": media_problem_rows(dialer_media_problems(connection=connection)[:MEDIA_PROBLEMS_ON_ROW]),
        "importing": connection.status in (S.QUEUED, S.SYNCING) and config.get("activated", True),
        "awaiting_activation": not config.get("activated", True),
        "last_result": config.get("last_result") or {},
        # While a run is going, its calls so far count too (the total is saved at its end).
        "calls_imported": config.get("calls_imported", 0) + (progress.get("imported", 0) if progress else 0),
        "crm_field": config.get("crm_field", ""),
    }


def media_summary(*, connection: Connection) -> dict[str, int]:
    """The connection's imported calls by recording outcome, over every run (a call
    refused for good stays counted: it has no recording however many runs follow)."""
    rows = (DialerCall.objects.filter(connection=connection, engagement__isnull=False)
            .values("media_status").annotate(n=Count("id")))
    summary = {status: 0 for status in MediaStatus.values} | {r["media_status"]: r["n"] for r in rows}
    summary["problems"] = summary[MediaStatus.FAILED] + summary[MediaStatus.REJECTED]
    return summary


def _next_try(call: DialerCall, now) -> str:
    if call.media_status == MediaStatus.REJECTED:
        return "Not tried again"
    attempt = f"try {call.media_attempts + 1} of {MEDIA_MAX_ATTEMPTS}"
    if call.media_retry_at and call.media_retry_at > now:
        when = call.media_retry_at.astimezone(UTC)
        return f"At the first hourly run after {when:%b} {when.day}, {when:%H:%M} UTC ({attempt})"
    return f"At the next hourly run ({attempt})"


def media_problem_rows(calls) -> list[dict[str, Any]]:
    """What the page shows of each call without a recording: its reason, its tries,
    and whether and when it is tried again."""
    now = timezone.now()
    return [{"call": call, "title": call.engagement.title if call.engagement_id else call.external_id,
             "started_at": call.started_at, "status": MediaStatus(call.media_status).label,
             "permanent": call.media_status == MediaStatus.REJECTED, "reason": call.media_error,
             "tries": call.media_attempts, "next_try": _next_try(call, now)} for call in calls]


def dialer_media_problems(*, connection: Connection):
    """The connection's calls whose recording was not downloaded (failed or refused for good), newest first."""
    return (DialerCall.objects.filter(connection=connection, engagement__isnull=False,
                                      media_status__in=[MediaStatus.FAILED, MediaStatus.REJECTED])
            .select_related("engagement").order_by("-started_at", "-id"))


