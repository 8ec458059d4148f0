"""Gainsight Timeline activities for ready engagements (seed: "Gainsight Integration").

* :func:`gainsight_ready` (ready listener, after ``crm.matching``): one outbox row
  per ready engagement matched to a Salesforce account, keyed
  ``gainsight:{engagement_id}``, for orgs on Enterprise with Gainsight connected.
  Never calls Gainsight.
* :class:`GainsightSender` sends a batch of one org: one Company Read call finds
  every company of the batch by ``SfdcAccountId``; each activity is then saved with
  the Single Activity Save API (``POST /v1/ant/es/activity``, 200 calls a minute).
  An engagement whose account Gainsight does not have fails for good with
  "The account <name> is not in Gainsight", which Delivery activity and the
  section show.

Exactly once. Gainsight's ``ExternalId`` is documented as the idempotency key of an
insert ("must be unique … across all previously inserted records for this
tenant"); the Timeline API documents no read by ExternalId, so Chorus cannot look
an activity up first. The ExternalId is ``chorus-{engagement id}``; a retry after a
lost answer sends the same insert, and Gainsight's refusal of a duplicate ExternalId
settles the delivery as sent (the first insert landed). ``write_attempted_at`` is
still persisted before each insert, as every sender does.

Rate limits: a 429 before anything was settled defers the batch by its Retry-After
(``RateLimited``); after that, the rest of the batch waits as ``throttled``. 5xx and
network errors are retried by the outbox; a refused Access Key fails the batch for
good and marks the connection failed with the sentence the section shows.
"""

from __future__ import annotations

import logging
from html import escape

from django.conf import settings
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.urls import reverse

from crm.models import AccountMatch
from gainsight.client import GainsightClient, GainsightError
from gainsight.services import KEY_REFUSED, SALESFORCE, gainsight_connection, gainsight_connection_failed
from integrations.models import ConnectionStatus, Delivery
from integrations.outbox import deliveries_write_attempted
from integrations.registry import RateLimited, SendResult

log = logging.getLogger(__name__)

TARGET = "gainsight"
KIND = "timeline_activity"
TYPE_NAME = "Meeting"
SUBJECT_MAX = 255
NOT_IN_GAINSIGHT = "The account {name} is not in Gainsight"
NOT_MATCHED = "The meeting is not matched to a Salesforce account any more."
NOT_CONNECTED = "Gainsight is not connected: add it in Settings > Integrations > Gainsight Integration."
NOT_ENTERPRISE = "The Gainsight integration is available with the Chorus Enterprise package."
DUPLICATE_MARKERS = ("duplicate", "already exists")


def external_id(engagement_id: int) -> str:
    return f"chorus-{engagement_id}"


# --- The ready listener --------------------------------------------------------------------------


def gainsight_ready(*, org, engagements) -> None:
    if not org.is_enterprise or not engagements:
        return
    connection = gainsight_connection(org=org)
    if connection is None:
        return
    ids = [e.id for e in engagements]
    matched = set(AccountMatch.objects.filter(org=org, engagement_id__in=ids, account__provider=SALESFORCE)
                  .values_list("engagement_id", flat=True))
    rows = [Delivery(org=org, target=TARGET, kind=KIND, engagement=e, idempotency_key=f"gainsight:{e.id}")
            for e in engagements if e.id in matched]
    if rows:
        with transaction.atomic(savepoint=False):
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)


# --- The activity --------------------------------------------------------------------------------


def _player_url(engagement) -> str:
    return settings.CHORUS_BASE_URL.rstrip("/") + reverse("recording", args=[engagement.pk])


def _duration(seconds: int) -> str:
    minutes, secs = divmod(int(seconds or 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _people(participants, *, internal: bool) -> list[str]:
    out = []
    for p in participants:
        if p.is_ignored or p.is_internal != internal or not (p.name or p.email):
            continue
        label = p.name or p.email
        if p.name and p.email:
            label += f" <{p.email}>"
        if p.title:
            label += f", {p.title}"
        out.append(label)
    return out


def activity_notes(engagement, *, enterprise: bool) -> str:
    """The activity's Notes (rich text): the seed's data, in its order."""
    participants = list(engagement.participants.all())
    trackers: list[str] = []
    for m in sorted(engagement.moments.all(), key=lambda m: (m.at_seconds, m.id or 0)):
        if m.tracker.name not in trackers:
            trackers.append(m.tracker.name)
    player = _player_url(engagement)
    recording = engagement.recording_url or player
    blocks: list[tuple[str, list[str]]] = [
        ("Engagement title", [escape(engagement.display_title)]),
        ("Meeting recording", [f'<a href="{escape(recording)}">{escape(recording)}</a>']),
        ("External attendees", [escape(x) for x in _people(participants, internal=False)] or ["—"]),
        ("Internal attendees", [escape(x) for x in _people(participants, internal=True)] or ["—"]),
        ("Trackers", [escape(", ".join(trackers)) if trackers else "—"]),
        ("Duration", [_duration(engagement.duration_seconds)]),
        ("Player", [f'<a href="{escape(player)}">Play the meeting in Chorus</a>']),
    ]
    if enterprise:
        summary = [escape(line.strip()) for line in (engagement.summary or "").splitlines() if line.strip()]
        if summary:
            blocks.append(("Meeting summary", summary))
        items = [escape(" ".join(a["text"].split())) for a in engagement.action_item_items if a.get("text")]
        if items:
            blocks.append(("Action items", [f"• {a}" for a in items]))
    return "".join(f"<p><strong>{escape(h)}</strong><br>" + "<br>".join(lines) + "</p>" for h, lines in blocks)


def activity_record(engagement, *, company_gsid: str, enterprise: bool) -> tuple[dict, dict]:
    """The Single Activity Save API's ``records[0]`` and ``lookups``."""
    subject = "Chorus - " + " ".join(engagement.display_title.split())
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    author = (engagement.owner.email if engagement.owner_id and engagement.owner else "") or ""
    record = {
        "ContextName": "Company",
        "TypeName": TYPE_NAME,
        "ExternalId": external_id(engagement.id),
        "Subject": subject,
        "Notes": activity_notes(engagement, enterprise=enterprise),
        "ActivityDate": engagement.started_at.isoformat(timespec="milliseconds"),
        "Author": author,
        "GsCompanyId": company_gsid,
    }
    lookups = {
        "AuthorId": {"fields": {"Author": "Email"}, "lookupField": "Gsid", "objectName": "GsUser",
                     "multiMatchOption": "FIRSTMATCH", "onNoMatch": "ERROR"},
    }
    return record, lookups


# --- The sender ----------------------------------------------------------------------------------


def _is_duplicate(exc: GainsightError) -> bool:
    text = (str(exc) + " " + str(exc.body)).lower()
    return exc.status == 400 and "externalid" in text.replace("_", "").replace(" ", "") and any(
        m in text for m in DUPLICATE_MARKERS)


def _remote_id(data: dict, fallback: str) -> str:
    body = data.get("data")
    records = body.get("records") if isinstance(body, dict) else body if isinstance(body, list) else None
    if isinstance(records, list) and records and isinstance(records[0], dict):
        for key in ("Gsid", "ActivityId", "id"):
            if records[0].get(key):
                return str(records[0][key])
    return fallback


class GainsightSender:
    target = TARGET
    batch_size = 50
    client_class = GainsightClient

    def send(self, deliveries: list[Delivery]) -> list[SendResult]:
        org = deliveries[0].org
        if not org.is_enterprise:
            return [SendResult(d.id, ok=False, permanent=True, error=NOT_ENTERPRISE) for d in deliveries]
        connection = gainsight_connection(org=org)
        if connection is None:
            return [SendResult(d.id, ok=False, permanent=True, error=NOT_CONNECTED) for d in deliveries]
        if connection.status == ConnectionStatus.FAILED:
            error = connection.last_error or KEY_REFUSED
            return [SendResult(d.id, ok=False, permanent=True, error=error) for d in deliveries]
        client = self.client_class(domain=connection.config["domain"], access_key=connection.secrets["access_key"])

        results: dict[int, SendResult] = {}
        engagements = [d.engagement for d in deliveries if d.engagement]
        prefetch_related_objects(engagements, "participants", "moments__tracker", "owner")
        matches = {m.engagement_id: m for m in AccountMatch.objects.filter(
            org=org, engagement_id__in=[e.id for e in engagements]).select_related("account")}
        todo: list[tuple[Delivery, object]] = []
        for d in deliveries:
            match = matches.get(d.engagement_id)
            account = match.account if match else None
            if d.engagement is None or account is None or account.provider != SALESFORCE or not account.remote_id:
                results[d.id] = SendResult(d.id, ok=False, permanent=True, error=NOT_MATCHED)
            else:
                todo.append((d, account))
        if not todo:
            return [results[d.id] for d in deliveries]

        try:
            companies = client.companies_by_sfdc_ids([a.remote_id for _, a in todo])
        except GainsightError as exc:
            return self._whole_batch(deliveries, results, exc, connection)

        ready: list[tuple[Delivery, str]] = []
        for d, account in todo:
            company = companies.get(account.remote_id)
            if company is None or not company.gsid:
                results[d.id] = SendResult(d.id, ok=False, permanent=True,
                                           error=NOT_IN_GAINSIGHT.format(name=account.name))
            else:
                ready.append((d, company.gsid))
        deliveries_write_attempted(deliveries=[d for d, _ in ready])
        settled_any = bool(results)
        throttled: GainsightError | None = None
        for d, gsid in ready:
            if throttled is not None:
                results[d.id] = SendResult(d.id, ok=False, throttled=True, retry_after=throttled.retry_after,
                                           error=f"{throttled} — retrying after {int(throttled.retry_after or 0)} s")
                continue
            record, lookups = activity_record(d.engagement, company_gsid=gsid, enterprise=org.is_enterprise)
            try:
                data = client.activity_insert(record=record, lookups=lookups)
            except GainsightError as exc:
                if exc.throttled:
                    if not settled_any:
                        raise RateLimited(exc.retry_after or 60.0, "Gainsight's rate limit was reached") from None
                    throttled = exc
                    results[d.id] = SendResult(d.id, ok=False, throttled=True, retry_after=exc.retry_after,
                                               error=f"{exc} — retrying after {int(exc.retry_after or 0)} s")
                    continue
                if _is_duplicate(exc):
                    # The same ExternalId is there already: an earlier insert landed.
                    results[d.id] = SendResult(d.id, ok=True, remote_id=record["ExternalId"])
                elif exc.auth:
                    gainsight_connection_failed(connection=connection, error=KEY_REFUSED)
                    for other, _ in ready:
                        results.setdefault(other.id, SendResult(other.id, ok=False, permanent=True, error=KEY_REFUSED))
                    break
                elif exc.transient:
                    results[d.id] = SendResult(d.id, ok=False, error=str(exc))
                else:
                    results[d.id] = SendResult(d.id, ok=False, permanent=True, error=str(exc)[:2000])
            else:
                results[d.id] = SendResult(d.id, ok=True, remote_id=_remote_id(data, record["ExternalId"]))
            settled_any = True
        return [results.get(d.id) or SendResult(d.id, ok=False, error="Not sent.") for d in deliveries]

    def _whole_batch(self, deliveries, results, exc: GainsightError, connection) -> list[SendResult]:
        if exc.throttled:
            raise RateLimited(exc.retry_after or 60.0, "Gainsight's rate limit was reached") from None
        if exc.auth:
            gainsight_connection_failed(connection=connection, error=KEY_REFUSED)
            error, permanent = KEY_REFUSED, True
        else:
            error, permanent = str(exc), not exc.transient
        for d in deliveries:
            results.setdefault(d.id, SendResult(d.id, ok=False, permanent=permanent, error=error))
        return [results[d.id] for d in deliveries]
