"""HubSpot: CRM v3 batch endpoints (100 inputs a call) through hubspot-api-client.

Tasks, notes (transcripts) and the Chorus custom objects carry a ``chorus_id``
property (unique value, created with the Chorus app's properties), so a retried
delivery is found with a batch *read* by that property — not the search API, whose
index lags — before anything is created again; custom objects are upserted on it.
Associations go inline with each create (v3 ``associations``), and Moments are tied
to their Engagement with one v4 association batch per 100.
"""

from __future__ import annotations

import json
import time
from typing import Any

import urllib3
from django.conf import settings
from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException

from crm.push.clients import refresh_access_token
from crm.push.sender import Batch, CrmPushSender, Throttled, Transient, chunks
from integrations.http import ca_bundle, parse_retry_after
from integrations.models import Delivery

BATCH_MAX = 100
KEY_PROPERTY = "chorus_id"
TRACKERS_PROPERTY = "chorus_trackers"
# HubSpot-defined association type ids (v4): what a task/note is linked to.
TASK_TO = {"contacts": 204, "companies": 192, "deals": 216}
NOTE_TO = {"contacts": 202, "companies": 190, "deals": 214}
ENGAGEMENT_OBJECT, MOMENT_OBJECT = "chorus_engagement", "chorus_moment"
SLOW_DOWN_BELOW = 3  # requests left in the 10-second window: wait for the next one
API_ERRORS = (ObjectsApiException, AssociationsApiException)


def _ms(iso: str) -> str:
    from datetime import datetime

    return str(int(datetime.fromisoformat(iso).timestamp() * 1000))


class HubSpotSender(CrmPushSender):
    target = "hubspot"
    label = "HubSpot"

    @property
    def timeout(self):
        from crm.push.clients import PushHttp

        return PushHttp.timeout

    def open_api(self, connection):
        api = hubspot_client(access_token=str(connection.secrets.get("access_token", "")))
        api._push_objects = dict(connection.config.get("custom_objects") or {})
        api._push_connection = connection
        return api

    # -- one HTTP call ---------------------------------------------------------------------------

    def call(self, batch: Batch, fn, *args, write: bool, **kwargs) -> dict:
        batch.http_calls += 1
        try:
            response = fn(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
        except API_ERRORS as exc:
            self._read_limits(exc.headers or {}, batch)
            if exc.status == 401:
                # Expired: CRM Connect refreshes and saves the token; the deliveries go
                # round again with it (a new client is built per send).
                refreshed = refresh_access_token(batch.deliveries[0].org.connections.filter(
                    provider=self.target).exclude(status="disconnected").first())
                raise Transient("HubSpot's access token expired; " + (
                    "Chorus refreshed it and retries." if refreshed else
                    "reconnect HubSpot under CRM Connect.")) from exc
            if exc.status == 429:
                retry = parse_retry_after((exc.headers or {}).get("Retry-After"), default=10.0)
                daily = "DAILY" in str(exc.body or "")
                raise Throttled("HubSpot asked Chorus to slow down (rate limit).", 3600.0 if daily else retry,
                                daily=daily) from exc
            if exc.status in (502, 503, 504) or exc.status == 0:
                raise Transient(f"HubSpot answered HTTP {exc.status}; Chorus retries.") from exc
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Transient(f"HubSpot did not answer ({exc.__class__.__name__}); Chorus retries.") from exc
        if write:
            batch.wrote = True
        self._read_limits(response.headers, batch)
        return json.loads(response.data or b"{}")

    def _read_limits(self, headers, batch: Batch) -> None:
        daily, left = headers.get("X-HubSpot-RateLimit-Daily"), headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if daily and left and daily.isdigit() and left.isdigit():
            self.note_usage(batch, int(daily) - int(left), int(daily))
        remaining = headers.get("X-HubSpot-RateLimit-Remaining")
        if remaining and remaining.isdigit() and int(remaining) < SLOW_DOWN_BELOW:
            interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds") or "10000"
            _sleep(min(10.0, int(interval) / 1000 if interval.isdigit() else 10.0))

    # -- shared shapes ----------------------------------------------------------------------------

    def read_by_key(self, api, batch: Batch, object_type: str, items: list[Delivery], key_of,
                    id_property: str = KEY_PROPERTY) -> dict[int, str]:
        found: dict[int, str] = {}
        for chunk in chunks(items, BATCH_MAX):
            by_key = {key_of(d): d for d in chunk}
            body = {"idProperty": id_property, "inputs": [{"id": k} for k in by_key], "properties": [id_property]}
            try:
                answer = self.call(batch, api.crm.objects.batch_api.read_with_http_info, object_type, body,
                                   write=False)
            except API_ERRORS as exc:
                raise Transient(f"HubSpot answered HTTP {exc.status} to a lookup.") from exc
            for rec in answer.get("results", []):
                d = by_key.get((rec.get("properties") or {}).get(id_property, ""))
                if d is not None:
                    found[d.id] = rec["id"]
        return found

    def create_missing(self, api, batch: Batch, object_type: str, items: list[Delivery], input_of, key_of=None,
                       id_property: str = KEY_PROPERTY) -> None:
        """100 deliveries at a time: the retried ones read back by key, the rest
        created in one call (see ``each_chunk``)."""
        key_of = key_of or (lambda d: d.idempotency_key)

        def read_then_create(chunk: list[Delivery]) -> None:
            retried = [d for d in chunk if d.attempts > 1]
            for d_id, remote in self.read_by_key(api, batch, object_type, retried, key_of, id_property).items():
                batch.ok(next(d for d in retried if d.id == d_id), remote)
            self._create(api, batch, object_type, batch.open(chunk), input_of, key_of, id_property)

        self.each_chunk(batch, items, BATCH_MAX, read_then_create)

    def _create(self, api, batch: Batch, object_type: str, chunk: list[Delivery], input_of, key_of,
                id_property: str) -> None:
        if not chunk:
            return
        body = {"inputs": [input_of(d, batch) for d in chunk]}
        try:
            answer = self.call(batch, api.crm.objects.batch_api.create_with_http_info, object_type, body, write=True)
        except API_ERRORS as exc:
            if exc.status == 409:  # some already exist (unique property): take them, create the rest once
                for d_id, remote in self.read_by_key(api, batch, object_type, chunk, key_of, id_property).items():
                    batch.ok(next(d for d in chunk if d.id == d_id), remote)
                rest = batch.open(chunk)
                if rest:
                    answer = self.call(batch, api.crm.objects.batch_api.create_with_http_info, object_type,
                                       {"inputs": [input_of(d, batch) for d in rest]}, write=True)
                    self._match(batch, rest, answer, key_of, id_property)
                return
            for d in chunk:
                batch.fail(d, f"HubSpot refused it (HTTP {exc.status}): {str(exc.body)[:300]}",
                           permanent=400 <= exc.status < 500)
            return
        self._match(batch, chunk, answer, key_of, id_property)

    def _match(self, batch: Batch, chunk: list[Delivery], answer: dict, key_of, id_property: str) -> None:
        """Batch results come back unordered: match them on the key property."""
        by_key = {key_of(d): d for d in chunk}
        for rec in answer.get("results", []):
            d = by_key.get((rec.get("properties") or {}).get(id_property, ""))
            if d is not None:
                batch.ok(d, rec["id"])
        for d in batch.open(chunk):
            batch.fail(d, "HubSpot did not confirm this record; Chorus checks again.")

    @staticmethod
    def _associations(p: dict, batch: Batch, types: dict[str, int]) -> list[dict]:
        out = []
        contacts = (p.get("who_ids") or []) + [r for k in p.get("contact_keys") or [] if (r := batch.ref(k))]
        company = p.get("account_id") or batch.ref(p.get("account_key", ""))
        targets = [("contacts", c) for c in contacts] + ([("companies", company)] if company else []) + \
                  ([("deals", p["opportunity_id"])] if p.get("opportunity_id") else [])
        for kind, remote_id in targets:
            out.append({"to": {"id": remote_id},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": types[kind]}]})
        return out

    @staticmethod
    def _owner(p: dict) -> dict:
        return {"hubspot_owner_id": p["owner_id"]} if p.get("owner_id") else {}

    # -- the objects ------------------------------------------------------------------------------

    def send_account(self, api, items, batch):
        self.create_missing(api, batch, "companies", items, key_of=lambda d: d.payload["domain"],
                            id_property="domain",
                            input_of=lambda d, b: {"properties": {"name": d.payload["name"],
                                                                  "domain": d.payload["domain"],
                                                                  **self._owner(d.payload)}})

    def send_contact(self, api, items, batch):
        def input_of(d, b):
            p = d.payload
            company = p.get("account_id") or b.ref(p.get("account_key", ""))
            return {"properties": {"email": p["email"], "firstname": p["first_name"], "lastname": p["last_name"],
                                   "jobtitle": p.get("title", ""), **self._owner(p)},
                    "associations": [{"to": {"id": company}, "types": [
                        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}] if company else []}

        self.create_missing(api, batch, "contacts", items, input_of=input_of, key_of=lambda d: d.payload["email"],
                            id_property="email")

    def send_task(self, api, items, batch):
        self.create_missing(api, batch, "tasks", items, input_of=lambda d, b: {
            "properties": {"hs_task_subject": d.payload["subject"], "hs_task_body": d.payload["body"],
                           "hs_timestamp": _ms(d.payload["starts_at"]), "hs_task_status": "COMPLETED",
                           "hs_task_type": "CALL", KEY_PROPERTY: d.idempotency_key, **self._owner(d.payload)},
            "associations": self._associations(d.payload, b, TASK_TO)})

    def send_trackers(self, api, items, batch):
        latest: dict[str, Delivery] = {}
        by_record: dict[str, list[Delivery]] = {}
        for d in sorted(items, key=lambda d: d.payload.get("started_at", "")):
            rid = d.payload.get("opportunity_id") or d.payload["account_id"]
            latest[rid] = d
            by_record.setdefault(rid, []).append(d)
        for object_type in ("deals", "companies"):
            self.update_records(api, batch, object_type, [
                (rid, by_record[rid], {TRACKERS_PROPERTY: ", ".join(d.payload["trackers"])})
                for rid, d in latest.items() if bool(d.payload.get("opportunity_id")) == (object_type == "deals")])

    def update_records(self, api, batch: Batch, object_type: str, updates: list[tuple[str, list[Delivery], dict]]):
        """Batch updates of (record id, the deliveries it settles, properties), 100 a
        call. Updating is idempotent; a call whose outcome is unknown sends only its
        own deliveries round again."""
        for chunk in chunks(updates, BATCH_MAX):
            body = {"inputs": [{"id": rid, "properties": props} for rid, _, props in chunk]}
            try:
                self.call(batch, api.crm.objects.batch_api.update_with_http_info, object_type, body, write=True)
            except Transient as exc:
                for _, ds, _ in chunk:
                    for d in batch.open(ds):
                        batch.fail(d, str(exc))
                continue
            for rid, ds, _ in chunk:
                for d in ds:
                    batch.ok(d, rid)

    def send_custom_object(self, api, items, batch):
        """Engagements upserted 100 a call, then their Moments 100 a call, then the
        Moment→Engagement associations 100 a call. Upserts and associations are
        idempotent, so a delivery is done when every call that carried a piece of it
        succeeded, and a failed call only sends its own deliveries round again."""
        objects: dict[str, Any] = api._push_objects
        engagement_type = objects.get("engagement", ENGAGEMENT_OBJECT)
        moment_type = objects.get("moment", MOMENT_OBJECT)
        failed: dict[int, str] = {}
        engagement_ids: dict[str, str] = {}
        moment_ids: dict[str, str] = {}

        def attempt(owners: list[Delivery], fn, *args) -> dict | None:
            live = [d for d in owners if d.id not in failed]
            if not live:
                return None
            if batch.stopped:
                for d in live:
                    failed[d.id] = str(batch.stopped)
                return None
            try:
                return self.call(batch, fn, *args, write=True)
            except (Transient, Throttled) as exc:
                if isinstance(exc, Throttled):
                    batch.stopped = exc
                for d in live:
                    failed[d.id] = str(exc)
                return None

        link_type = [{"associationCategory": "USER_DEFINED",
                      "associationTypeId": objects.get("moment_to_engagement_type_id", 1)}]
        # 100 Engagements at a time, each group finished (Moments, then links) before
        # the next: a rate limit late in a large batch then only sends the groups not
        # yet done round again, instead of every Engagement whose links were still to
        # come. Same number of calls while Moments fill whole calls.
        for group in chunks(items, BATCH_MAX):
            body = {"inputs": [{"idProperty": KEY_PROPERTY, "id": d.payload["key"], "properties": {
                "chorus_title": d.payload["title"], "chorus_type": d.payload["kind"],
                "chorus_started_at": _ms(d.payload["started_at"]), "chorus_recording_url": d.payload["recording_url"],
                "chorus_duration_seconds": str(d.payload.get("duration_seconds") or 0)}} for d in group]}
            answer = attempt(group, api.crm.objects.batch_api.upsert_with_http_info, engagement_type, body)
            for rec in (answer or {}).get("results", []):
                engagement_ids[(rec.get("properties") or {}).get(KEY_PROPERTY, "")] = rec["id"]
            moments = [(d, m) for d in group if d.id not in failed for m in d.payload.get("moments") or []]
            for chunk in chunks(moments, BATCH_MAX):
                body = {"inputs": [{"idProperty": KEY_PROPERTY, "id": m["key"], "properties": {
                    "chorus_tracker": m["tracker"], "chorus_seconds": str(m["at_seconds"]), "chorus_text": m["text"],
                    "chorus_speaker": m["speaker"]}} for _, m in chunk]}
                answer = attempt([d for d, _ in chunk], api.crm.objects.batch_api.upsert_with_http_info, moment_type,
                                 body)
                for rec in (answer or {}).get("results", []):
                    moment_ids[(rec.get("properties") or {}).get(KEY_PROPERTY, "")] = rec["id"]
            links = [(d, {"from": {"id": moment_ids[m["key"]]}, "to": {"id": engagement_ids[d.payload["key"]]},
                          "types": link_type})
                     for d, m in moments if d.id not in failed and m["key"] in moment_ids
                     and d.payload["key"] in engagement_ids]
            for chunk in chunks(links, BATCH_MAX):  # creating an existing association is a no-op
                attempt([d for d, _ in chunk], api.crm.associations.v4.batch_api.create_with_http_info, moment_type,
                        engagement_type, {"inputs": [link for _, link in chunk]})
        for d in items:
            if d.id in failed:
                batch.fail(d, failed[d.id], retry_after=batch.stopped.retry_after if batch.stopped else None)
            elif d.payload["key"] in engagement_ids and all(
                    m["key"] in moment_ids for m in d.payload.get("moments") or []):
                batch.ok(d, engagement_ids[d.payload["key"]])
            else:
                batch.fail(d, "HubSpot did not confirm the Engagement; Chorus checks again.")

    def send_transcript(self, api, items, batch):
        self.create_missing(api, batch, "notes", items, input_of=lambda d, b: {
            "properties": {"hs_note_body": f"<p><strong>{_escape(d.payload['title'])}</strong></p>"
                                           f"<pre>{_escape(d.payload['text'])}</pre>",
                           "hs_timestamp": str(int(time.time() * 1000)), KEY_PROPERTY: d.idempotency_key},
            "associations": self._associations(d.payload, b, NOTE_TO)})

    def send_field_update(self, api, items, batch):
        native = {"Opportunity": "deals", "Task": "tasks"}
        by_record = self.answers_by_record(items, batch, object_of=native.__getitem__)
        for object_type in ("deals", "tasks"):
            self.update_records(api, batch, object_type, [
                (rid, ds, {d.payload["field"]: d.payload["value"] for d in ds})
                for (ot, rid), ds in by_record.items() if ot == object_type])


def _escape(text: str) -> str:
    from html import escape

    return escape(text)


def _sleep(seconds: float) -> None:  # patched in tests
    time.sleep(seconds)


def hubspot_client(*, access_token: str) -> HubSpot:
    """hubspot-api-client over urllib3: host and CA bundle from settings, and no
    urllib3 Retry (``retry=False``): 429s come back to the sender as exceptions, and
    a POST whose connection dropped is never re-sent behind the sender's back — its
    outcome is unknown, so the outbox retries it with a look-up first. (urllib3's
    default Retry leaves POST alone on read errors today; this does not rely on it.)
    The sender passes ``PushHttp.timeout`` as each call's ``_request_timeout``."""
    bundle = ca_bundle()
    return HubSpot(access_token=access_token, host=settings.HUBSPOT_API_URL, retry=False,
                   ssl_ca_cert=bundle if isinstance(bundle, str) else None)
