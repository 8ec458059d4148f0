"""CRM Connect, sync, field import and CRM sign-in: the writes. Views, tasks and
the Django admin call these; none of this lives in views or templates."""

from __future__ import annotations

import hmac
import logging
import secrets as pysecrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chorus.models import Organization, User
from chorus.services import audit_record
from crm.models import CrmAccount, CrmContact, CrmField, CrmOpportunity, CrmSyncCursor
from crm.providers import CATEGORY, crm_keys, crm_providers, get_provider
from crm.providers.base import (
    ConnectRefused,
    CrmError,
    Identity,
    RateLimitedError,
    ReconnectRequired,
)
from crm.providers.objects import FIELD_OBJECTS
from crm.sync import CUSTOM_SOURCE, Changes, sync_objects
from integrations.models import Connection, ConnectionStatus
from integrations.selectors import connection_in_category

log = logging.getLogger(__name__)

S = ConnectionStatus
# A sync that has not written progress for this long is taken to have died with its worker.
SYNC_STALE_AFTER = timedelta(hours=2)
PENDING_MAX_AGE = timedelta(minutes=15)

DENIED = ("{label} sign-in was cancelled: access to Chorus was not allowed. Click Enable to try again, "
          "and choose Allow on {label}'s screen.")
STALE_STATE = "This sign-in link expired or was already used. Click Enable to start again."
SYNC_UNEXPECTED = "The sync stopped on an unexpected error. Chorus tries again at the next scheduled sync."


# --- Reads used by the services and the views ---------------------------------------------


def crm_connection_get(*, org: Organization) -> Connection | None:
    """The org's CRM connection (one CRM per org at a time), disconnected ones excluded."""
    return connection_in_category(org=org, category=CATEGORY)


def _save_config(connection: Connection, **changes: Any) -> None:
    connection.config = {**connection.config, **changes}
    Connection.objects.filter(pk=connection.pk).update(config=connection.config, updated_at=timezone.now())


def _persist_tokens(connection: Connection):
    def save(tokens: dict) -> None:
        connection.secrets = {**connection.secrets, **tokens}
        Connection.objects.filter(pk=connection.pk).update(secrets=connection.secrets)
    return save


def crm_session_open(*, connection: Connection):
    provider = get_provider(connection.provider)
    return provider.session(config=connection.config, secrets=dict(connection.secrets),
                            on_tokens=_persist_tokens(connection))


# --- Connect --------------------------------------------------------------------------------


def crm_oauth_begin(*, org: Organization | None, provider_key: str, options: dict, redirect_uri: str,
                    login: bool = False) -> tuple[str, dict]:
    """Where to send the admin's browser, and what the session keeps until the
    callback (the ``state`` it must bring back, the admin's choices)."""
    provider = get_provider(provider_key)
    if not login and org is not None:
        existing = crm_connection_get(org=org)
        if existing and existing.provider != provider_key:
            other = get_provider(existing.provider).label
            raise ConnectRefused(f"{other} is connected. Chorus connects one CRM at a time: "
                                 f"disconnect {other} first, then enable {provider.label}.")
    config: dict[str, Any] = provider.connect_config(options=options, login=login)
    state = pysecrets.token_urlsafe(32)
    url, extra = provider.authorize_url(config=config, state=state, redirect_uri=redirect_uri, login=login)
    pending = {"provider": provider_key, "state": state, "org_id": org.pk if org else None, "config": config,
               "login": login, "started_at": timezone.now().isoformat(), **extra}
    return url, pending


def _check_callback(*, pending: dict | None, provider_key: str, params: dict) -> dict:
    if not pending or pending.get("provider") != provider_key:
        raise ConnectRefused(STALE_STATE)
    started = pending.get("started_at")
    if not started or timezone.now() - datetime.fromisoformat(started) > PENDING_MAX_AGE:
        raise ConnectRefused(STALE_STATE)
    if not hmac.compare_digest(str(params.get("state", "")), str(pending.get("state", ""))):
        raise ConnectRefused(STALE_STATE)
    label = get_provider(provider_key).label
    if params.get("error"):
        if params.get("error") in ("access_denied", "consent_required", "interaction_required"):
            raise ConnectRefused(DENIED.format(label=label))
        detail = params.get("error_description") or params.get("error")
        raise ConnectRefused(f"{label} did not complete the sign-in: {detail[:200]}. Click Enable to try again.")
    if not params.get("code"):
        raise ConnectRefused(f"{label} did not send a sign-in code back. Click Enable to try again.")
    return pending


def _forget_crm_data(*, org: Organization, provider: str) -> None:
    for model in (CrmOpportunity, CrmContact, CrmAccount, CrmField, CrmSyncCursor):
        model.objects.for_org(org).filter(provider=provider).delete()


def crm_oauth_complete(*, pending: dict | None, provider_key: str, params: dict, org: Organization, user: User,
                       redirect_uri: str) -> Connection:
    """Exchange the code, check the CRM account may be connected, store the
    encrypted tokens and queue the first sync."""
    pending = _check_callback(pending=pending, provider_key=provider_key, params=params)
    if pending.get("login") or pending.get("org_id") != org.pk:
        raise ConnectRefused(STALE_STATE)
    provider = get_provider(provider_key)
    grant = provider.exchange_code(config=pending["config"], pending=pending, params=params, redirect_uri=redirect_uri)
    config = {**pending["config"], **grant.config}
    tokens = dict(grant.secrets)
    session = provider.session(config=config, secrets=tokens, on_tokens=tokens.update)
    config.update(session.verify())  # the Salesforce edition check refuses here, before anything is stored
    with transaction.atomic():
        connection = Connection.objects.for_org(org).filter(provider=provider_key).first()
        if connection is None:
            connection = Connection(org=org, provider=provider_key)
        elif connection.config.get("crm_org_id") and connection.config.get("crm_org_id") != config.get("crm_org_id"):
            # Another CRM org than last time: its records are not this one's.
            _forget_crm_data(org=org, provider=provider_key)
        keep = {k: connection.config[k] for k in ("last_result",) if k in connection.config
                and connection.config.get("crm_org_id") == config.get("crm_org_id")}
        connection.config = {**keep, **config}
        connection.secrets = tokens
        connection.status = S.QUEUED
        connection.last_error = ""
        connection.connected_by = user
        connection.save()
        audit_record(org=org, actor=user, action="crm.connected", target=provider.label,
                     changes={"crm_org_id": [None, config.get("crm_org_id", "")]})
        crm_sync_queue(connection=connection)
    return connection


def crm_disconnect(*, connection: Connection, actor: User) -> str:
    """Revoke Chorus's grant at the CRM where it allows it, then forget the tokens;
    the synced copy stays so filters keep working until another CRM org is
    connected. Returns what the admin still has to do at the CRM ("" if nothing).
    A CRM that cannot be reached never keeps the tokens here."""
    provider = get_provider(connection.provider)
    left_to_do = provider.revoke(config=connection.config, secrets=connection.secrets or {})
    if left_to_do:
        log.warning("CRM %s of org %s: access not revoked at the CRM", connection.provider, connection.org_id)
    connection.status = S.DISCONNECTED
    connection.secrets = {}
    connection.last_error = ""
    connection.config = {k: v for k, v in connection.config.items() if k not in ("progress", "needs_reconnect")}
    connection.save()
    audit_record(org=connection.org, actor=actor, action="crm.disconnected", target=provider.label,
                 changes={"revoked_at_crm": [None, not left_to_do]})
    return left_to_do


# --- Sync -----------------------------------------------------------------------------------


def crm_sync_queue(*, connection: Connection) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task("crm.tasks.crm_sync_task", connection.pk, group="crm-sync"))


def crm_sync_request(*, connection: Connection, actor: User | None = None) -> None:
    """"Sync now" from the page: mark queued (visible at once) and queue it."""
    if connection.status == S.SYNCING:
        return
    Connection.objects.filter(pk=connection.pk).update(status=S.QUEUED, updated_at=timezone.now())
    connection.status = S.QUEUED
    crm_sync_queue(connection=connection)


def _claim(connection: Connection) -> bool:
    """Only one worker syncs a connection at a time (any number of hosts): the
    conditional UPDATE is the claim. A claim older than SYNC_STALE_AFTER is
    taken over (its worker died)."""
    now = timezone.now()
    claimed = (Connection.objects.filter(pk=connection.pk, provider__in=crm_keys())
               .exclude(status=S.DISCONNECTED)
               .filter(~Q(status=S.SYNCING) | Q(updated_at__lt=now - SYNC_STALE_AFTER))
               .update(status=S.SYNCING, updated_at=now))
    if claimed:
        connection.refresh_from_db()
    return bool(claimed)


def crm_fields_import(*, connection: Connection, session=None) -> dict[str, Any]:
    """Describe Task, Lead, Account and Opportunity (or the CRM's equivalents) and
    store their custom fields. Fields gone from the CRM are kept, marked missing,
    so the page and the filters can say so; they are no longer synced."""
    session = session or crm_session_open(connection=connection)
    org, provider = connection.org, connection.provider
    now = timezone.now()
    seen: set[tuple[str, str]] = set()
    warnings: list[str] = []
    for object_name in FIELD_OBJECTS:
        try:
            infos = session.describe(object_name)
        except (ReconnectRequired, RateLimitedError):
            raise
        except CrmError as exc:
            warnings.append(f"{object_name}: {exc}")
            seen.update((object_name, api) for api in CrmField.objects.for_org(org).filter(
                provider=provider, object_name=object_name).values_list("api_name", flat=True))
            continue
        rows = [CrmField(org=org, provider=provider, object_name=i.object_name, api_name=i.api_name,
                         label=i.label[:255], field_type=i.field_type[:40], supported=i.supported,
                         unsupported_reason=i.unsupported_reason[:255], picklist_values=i.picklist_values[:500],
                         picklist_codes=i.picklist_codes, missing_since=None) for i in infos]
        CrmField.objects.bulk_create(rows, update_conflicts=True,
                                     unique_fields=["org", "provider", "object_name", "api_name"],
                                     update_fields=["label", "field_type", "supported", "unsupported_reason",
                                                    "picklist_values", "picklist_codes", "missing_since"])
        seen.update((i.object_name, i.api_name) for i in infos)
    missing = []
    for field in CrmField.objects.for_org(org).filter(provider=provider):
        if (field.object_name, field.api_name) not in seen and field.missing_since is None:
            field.missing_since = now
            field.save(update_fields=["missing_since"])
            if field.selected:
                missing.append(f"{field.object_name} · {field.label}")
        elif field.selected and not field.supported:
            field.selected = False  # its type changed to one Chorus can't filter by
            field.save(update_fields=["selected"])
    result = {"fields": len(seen), "missing": missing, "warnings": warnings, "at": now.isoformat()}
    _save_config(connection, fields_import=result)
    return result


def crm_sync(*, connection: Connection) -> dict[str, Any]:
    """One sync run: refresh the field list, then Accounts, Opportunities,
    Contacts and Leads modified since the last run. Failures end on the
    connection row as a sentence; a refused sign-in asks the admin to reconnect."""
    if not _claim(connection):
        return {"skipped": "already syncing or disconnected"}
    started = timezone.now()

    def progress(object_name: str, done: int, total: int | None) -> None:
        _save_config(connection, progress={"object": object_name, "done": done, "total": total,
                                           "started_at": started.isoformat()})

    status, error, counts, rematched = S.OK, "", {}, None
    needs_reconnect = False
    try:
        session = crm_session_open(connection=connection)
        fields = crm_fields_import(connection=connection, session=session)
        changes = Changes()
        counts = sync_objects(connection=connection, session=session, progress=progress, changes=changes)
        if hasattr(session, "zoominfo_installed"):
            _save_config(connection, zoominfo_installed=session.zoominfo_installed())
        if any(counts.values()):
            rematched = _rematch(connection=connection, changes=changes)
        if fields["missing"]:
            error = ("These selected CRM fields no longer exist and are not synced any more: "
                     + ", ".join(fields["missing"]) + ". Review them under Select CRM Fields.")
    except ReconnectRequired as exc:
        status, error, needs_reconnect = S.FAILED, str(exc), True
    except CrmError as exc:
        status, error = S.FAILED, str(exc)
    except Exception:
        log.exception("CRM sync failed for connection %s", connection.pk)
        status, error = S.FAILED, SYNC_UNEXPECTED
    finished = timezone.now()
    connection.config = {k: v for k, v in connection.config.items() if k != "progress"}
    connection.config["needs_reconnect"] = needs_reconnect
    connection.config["last_result"] = {"ok": status == S.OK, "counts": counts, "started_at": started.isoformat(),
                                        "finished_at": finished.isoformat(), "message": error,
                                        "rematched": rematched}
    Connection.objects.filter(pk=connection.pk).update(
        status=status, last_error=error, last_run_at=finished, config=connection.config, updated_at=finished)
    connection.status, connection.last_error, connection.last_run_at = status, error, finished
    return connection.config["last_result"]


def _rematch(*, connection: Connection, changes: Changes) -> int | None:
    """Re-run account matching for what the sync changed (seed: a call made before
    its opportunity existed is matched later). A matching failure is logged and
    does not fail the sync: the CRM copy is still good."""
    from crm import matching

    try:
        if changes.full:
            return matching.matches_refresh_for_org(org=connection.org)
        return matching.matches_refresh_for_accounts(org=connection.org, account_ids=changes.account_ids,
                                                     emails=changes.emails)
    except Exception:
        log.exception("Re-matching after the CRM sync failed (connection %s)", connection.pk)
        return None


CRM_SYNC_JOB = "crm_sync"


def crm_sync_due() -> int:
    """The periodic sync's tick: one task per connected CRM that can sync
    (integrations/scheduler.py: a lease per connection, per-provider caps)."""
    from integrations.scheduler import scheduler_tick

    return scheduler_tick(CRM_SYNC_JOB)["queued"]


def crm_sync_due_units(now):
    """Every connected CRM that can sync (not one waiting for the admin to reconnect;
    one running is skipped by the tick, which sees its lease)."""
    from integrations.scheduler import Unit

    rows = (Connection.objects.filter(provider__in=crm_keys()).exclude(status=S.DISCONNECTED)
            .values_list("pk", "org_id", "provider", "config"))
    return [Unit.of_row("connection", pk, org_id, provider)
            for pk, org_id, provider, config in rows if not (config or {}).get("needs_reconnect")]


def crm_sync_unit_run(unit) -> dict[str, Any]:
    from integrations.scheduler import connection_of

    connection = connection_of(unit, crm_keys())
    return crm_sync(connection=connection) if connection else {"skipped": "connection gone"}


# --- Field selection ------------------------------------------------------------------------


def crm_fields_select(*, connection: Connection, field_ids: list[int], actor: User) -> list[CrmField]:
    """Save the admin's selection. Newly selected fields need every record read
    again, so their objects' cursors restart and a sync is queued."""
    org, provider = connection.org, connection.provider
    fields = CrmField.objects.for_org(org).filter(provider=provider)
    wanted = set(field_ids)
    chosen = list(fields.filter(pk__in=wanted))
    if len(chosen) != len(wanted):
        raise ValidationError("Some of the chosen fields are no longer listed. Reload the page and choose again.")
    errors = []
    for f in chosen:
        if not f.supported and not f.selected:
            errors.append(f"“{f.label}” ({f.field_type}) can't be imported: {f.unsupported_reason}")
        elif f.missing_since and not f.selected:
            errors.append(f"“{f.label}” no longer exists in {get_provider(provider).label} and can't be selected.")
    if errors:
        raise ValidationError(errors)
    newly = [f for f in chosen if not f.selected]
    with transaction.atomic():
        fields.filter(selected=True).exclude(pk__in=wanted).update(selected=False)
        fields.filter(pk__in=[f.pk for f in newly]).update(selected=True)
        restart = {obj for obj, source in CUSTOM_SOURCE.items() if source in {f.object_name for f in newly}}
        if restart:
            CrmSyncCursor.objects.for_org(org).filter(provider=provider, object_name__in=restart).update(
                modified_since=None)
        audit_record(org=org, actor=actor, action="crm.fields_selected", target=get_provider(provider).label,
                     changes={"selected": [None, sorted(f"{f.object_name}.{f.api_name}" for f in chosen)]})
        if restart and connection.status != S.SYNCING:
            crm_sync_request(connection=connection, actor=actor)
    return chosen


# --- CRM sign-in ----------------------------------------------------------------------------


def crm_sign_in_user(*, provider_key: str, identity: Identity) -> User | None:
    """The active Chorus user a CRM identity signs in as: only in an org whose
    connected CRM org is the identity's CRM org, and only by exact email. The CRM
    org (not the email's domain) is the trust anchor: that org's CRM admins are
    the ones who vouch for the address."""
    if not identity.crm_org_id or not identity.email:
        return None
    org_ids = [c.org_id for c in Connection.objects.filter(provider=provider_key).exclude(status=S.DISCONNECTED)
               if c.config.get("crm_org_id") == identity.crm_org_id]
    if not org_ids:
        return None
    users = list(User.objects.filter(org_id__in=org_ids, email__iexact=identity.email, is_active=True)[:2])
    return users[0] if len(users) == 1 else None


def crm_sign_in_complete(*, pending: dict | None, provider_key: str, params: dict, redirect_uri: str) -> User:
    pending = _check_callback(pending=pending, provider_key=provider_key, params=params)
    if not pending.get("login"):
        raise ConnectRefused(STALE_STATE)
    provider = get_provider(provider_key)
    grant = provider.exchange_code(config=pending["config"], pending=pending, params=params, redirect_uri=redirect_uri)
    user = crm_sign_in_user(provider_key=provider_key, identity=grant.identity)
    if user is None:
        raise ConnectRefused(f"No Chorus account matches your {provider.label} sign-in. Your organization must "
                             f"have {provider.label} connected to Chorus, and your Chorus email must be the one "
                             f"on your {provider.label} user.")
    return user


# --- Reads for the pages --------------------------------------------------------------------


COUNT_LABELS = (("Account", "account", "accounts"), ("Opportunity", "opportunity", "opportunities"),
                ("Contact", "contact", "contacts"), ("Lead", "lead", "leads"))


def crm_connect_context(*, connection: Connection | None) -> dict[str, Any]:
    """The status block of a connection: state, who connected it, progress, last result."""
    if connection is None:
        return {"connection": None}
    config = connection.config
    progress = config.get("progress") or {}
    percent = None
    if progress.get("total"):
        percent = min(100, int(100 * progress.get("done", 0) / progress["total"]))
    last = config.get("last_result") or {}
    provider = get_provider(connection.provider)
    return {
        "connection": connection,
        "provider": provider,
        "reconnect_fields": provider.reconnect_fields(config),
        "needs_reconnect": bool(config.get("needs_reconnect")),
        "syncing": connection.status in (S.QUEUED, S.SYNCING),
        "progress": progress,
        "percent": percent,
        "last_result": last,
        "last_counts": [f"{n:,} {singular if n == 1 else plural}" for name, singular, plural in COUNT_LABELS
                        if (n := last.get("counts", {}).get(name)) is not None],
    }


def crm_connect_section(request, org: Organization) -> dict[str, Any]:
    connection = crm_connection_get(org=org)
    return {**crm_connect_context(connection=connection), "providers": crm_providers()}


def crm_fields_section(request, org: Organization) -> dict[str, Any]:
    connection = crm_connection_get(org=org)
    if connection is None:
        return {"connection": None}
    fields = CrmField.objects.for_org(org).filter(provider=connection.provider)
    return {"connection": connection, "provider": get_provider(connection.provider),
            "selected": list(fields.filter(selected=True)), "field_count": fields.count(),
            "fields_import": connection.config.get("fields_import") or {}}


def crm_fields_page(*, connection: Connection) -> dict[str, Any]:
    """Fields grouped by object in the seed's order (Task, Lead, Account, Opportunity)."""
    provider = get_provider(connection.provider)
    by_object: dict[str, list[CrmField]] = {name: [] for name in FIELD_OBJECTS}
    for f in CrmField.objects.for_org(connection.org).filter(provider=connection.provider).order_by("label"):
        by_object.setdefault(f.object_name, []).append(f)
    groups = [{"name": name, "native": provider.native_objects.get(name, name), "fields": fields}
              for name, fields in by_object.items()]
    imported = (connection.config.get("fields_import") or {}).get("at")
    return {"provider": provider, "groups": groups,
            "fields_import_at": datetime.fromisoformat(imported) if imported else None,
            "selected_count": sum(1 for g in groups for f in g["fields"] if f.selected)}
