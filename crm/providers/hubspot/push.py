"""HubSpot: CRM v3 batch endpoints (100 inputs a call) through hubspot-api-client.

Tasks, notes (transcripts) and companies carry a ``chorus_id`` property with unique
values, which Chorus creates when the admin connects (``schema.py``: HubSpot refuses
a property that does not exist), so a delivery an earlier attempt may have written
is found with a batch *read* by that property — not the search API, whose index lags
— before anything is created again; contacts are read by email, and the Chorus
custom objects are upserted on their ``chorus_id``. Associations go inline with each
create (v3 ``associations``), and Moments are tied to their Engagement with one v4
association batch per 100.

Rate limits as HubSpot documents them: a 429's body names the policy —
``TEN_SECONDLY_ROLLING`` (wait for the window, or the ``Retry-After`` given) or
``DAILY`` (the account's daily allowance, reset at midnight in its time zone).
https://developers.hubspot.com/docs/api/usage-details
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import urllib3
from django.conf import settings
from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.crm.schemas.exceptions import ApiException as SchemasApiException

from crm.providers.hubspot.schema import NEEDS, json_body, push_schema_due, push_schema_ensure
from crm.push.clients import refresh_access_token
from crm.push.sender import Batch, CrmPushSender, Refused, Throttled, Transient, chunks
from integrations.http import ca_bundle, parse_retry_after
from integrations.models import Connection, Delivery

log = logging.getLogger(__name__)

BATCH_MAX = 100
KEY_PROPERTY = "chorus_id"
TRACKERS_PROPERTY = "chorus_trackers"
# HubSpot-defined association type ids (v4): what a task/note is linked to.
TASK_TO = {"contacts": 204, "companies": 192, "deals": 216}
NOTE_TO = {"contacts": 202, "companies": 190, "deals": 214}
SLOW_DOWN_BELOW = 3  # requests left in the 10-second window: wait for the next one
API_ERRORS = (ObjectsApiException, AssociationsApiException, PropertiesApiException, SchemasApiException)
TEN_SECONDS = 10.0
DAILY_PAUSE_SECONDS = 3600.0  # the daily allowance resets at midnight in the account's time zone: look hourly
NO_CUSTOM_OBJECTS_YET = ("Chorus has not set up its custom objects in HubSpot yet; it tries again with the next "
                         "push.")


class HubSpotRefused(Refused):
    """A 4xx from HubSpot (other than 401/429): ``missing`` when it is about a
    property or object type the portal does not have."""

    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body
        message = str(body.get("message") or "")
        self.missing = status == 400 and ("PROPERTY_DOESNT_EXIST" in message
                                          or "Unable to infer object type" in message)
        super().__init__(f"HubSpot refused it (HTTP {status}): {message[:300]}")


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
        api._push_problems = dict(connection.config.get("push_setup_problems") or {})
        api._push_connection = connection
        return api

    # -- set-up: the properties and objects Chorus writes ---------------------------------------

    def prepare(self, api, batch: Batch) -> None:
        """Set up what HubSpot lacks before the first push after connecting (or
        after an upgrade of Chorus, or an hour after a problem). A rate limit stops
        the batch; a failure here leaves each kind to find out for itself."""
        batch.context["api"] = api
        if not push_schema_due(api._push_connection.config):
            return
        try:
            self.ensure_schema(api, batch)
        except Throttled as exc:
            batch.stopped = exc
        except Transient:
            log.warning("HubSpot push set-up failed for connection %s; each kind finds out", api._push_connection.pk)

    def ensure_schema(self, api, batch: Batch) -> None:
        def raw(fn, *args) -> tuple[int, dict]:
            try:
                return 200, self._call(batch, fn, *args, write=True)
            except HubSpotRefused as exc:
                return exc.status, exc.body

        config = push_schema_ensure(api=api, call=raw)
        connection = api._push_connection
        connection.config = {**connection.config, **config}
        Connection.objects.filter(pk=connection.pk).update(config=connection.config)
        api._push_objects = dict(config["custom_objects"])
        api._push_problems = dict(config["push_setup_problems"])

    def _send_kind(self, api, kind: str, items: list[Delivery], batch: Batch) -> None:
        """A kind whose property or object could not be created is settled once with
        what the admin does about it; the other kinds go on."""
        problem = api._push_problems.get(NEEDS.get(kind, ""))
        if problem and not batch.stopped:
            for d in items:
                batch.fail(d, problem, permanent=True)
            return
        if kind == "custom_object" and not api._push_objects.get("engagement") and not batch.stopped:
            for d in items:  # the set-up did not get that far this time
                batch.fail(d, NO_CUSTOM_OBJECTS_YET)
            return
        super()._send_kind(api, kind, items, batch)

    # -- one HTTP call ---------------------------------------------------------------------------

    def call(self, batch: Batch, fn, *args, write: bool, **kwargs) -> dict:
        """One API call, its JSON answer. A refusal for a property or object type
        HubSpot doesn't have (deleted since the set-up) sets up again and repeats
        the call, once a send."""
        try:
            return self._call(batch, fn, *args, write=write, **kwargs)
        except HubSpotRefused as exc:
            api = batch.context.get("api")
            if not exc.missing or api is None or batch.context.get("set_up_again"):
                raise
            batch.context["set_up_again"] = True
            self.ensure_schema(api, batch)
            return self._call(batch, fn, *args, write=write, **kwargs)

    def _call(self, batch: Batch, fn, *args, write: bool, **kwargs) -> dict:
        batch.http_calls += 1
        try:
            response = fn(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
            data = response.data  # read here: a body cut short is a lost answer too
        except API_ERRORS as exc:
            headers = exc.headers or {}
            self._read_limits(headers, batch)
            if exc.status == 401:
                # Expired: CRM Connect refreshes and saves the token; the deliveries go
                # round again with it (a new client is built per send).
                refreshed = refresh_access_token(batch.deliveries[0].org.connections.filter(
                    provider=self.target).exclude(status="disconnected").first())
                raise Transient("HubSpot's access token expired; " + (
                    "Chorus refreshed it and retries." if refreshed else
                    "reconnect HubSpot under CRM Connect.")) from exc
            if exc.status == 429:
                raise self.rate_limit(json_body(exc.body), headers) from exc
            if exc.status == 503 and headers.get("Retry-After"):
                raise Throttled("HubSpot is busy (HTTP 503).", parse_retry_after(headers["Retry-After"],
                                                                                  default=TEN_SECONDS)) from exc
            if exc.status in (0, 408) or exc.status >= 500:
                raise Transient(f"HubSpot answered HTTP {exc.status}; Chorus retries.") from exc
            raise HubSpotRefused(exc.status, json_body(exc.body)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Transient(f"HubSpot did not answer ({exc.__class__.__name__}); Chorus retries.") from exc
        self._read_limits(response.headers, batch)
        return json.loads(data or b"{}")

    @staticmethod
    def rate_limit(body: dict, headers) -> Throttled:
        """A 429 read by its ``policyName``: DAILY is the account's daily allowance;
        anything else (TEN_SECONDLY_ROLLING, SECONDLY) clears within its window."""
        policy = str(body.get("policyName") or "")
        if policy == "DAILY":
            return Throttled("HubSpot's daily API limit for this account is used up (429 DAILY); it resets at "
                             "midnight in the account's time zone. Chorus pauses pushing until then.",
                             DAILY_PAUSE_SECONDS, daily=True)
        interval = str(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds") or "")
        window = int(interval) / 1000 if interval.isdigit() else TEN_SECONDS
        return Throttled(f"HubSpot's rate limit was reached (429 {policy or 'RATE_LIMIT'}); Chorus waits as "
                         "HubSpot asks.", parse_retry_after(headers.get("Retry-After"), default=window))

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
            answer = self.call(batch, api.crm.objects.batch_api.read_with_http_info, object_type, body, write=False)
            for rec in answer.get("results", []):
                d = by_key.get((rec.get("properties") or {}).get(id_property, ""))
                if d is not None:
                    found[d.id] = rec["id"]
        return found

    def create_missing(self, api, batch: Batch, object_type: str, items: list[Delivery], input_of, key_of=None,
                       id_property: str = KEY_PROPERTY) -> None:
        """100 deliveries at a time: those an earlier attempt may have written read
        back by key, the rest created in one call (see ``each_chunk``)."""
        key_of = key_of or (lambda d: d.idempotency_key)
        batch.before_write(items)  # from here HubSpot may have any of them (one UPDATE for the kind)

        def read_then_create(chunk: list[Delivery]) -> None:
            retried = batch.retried(chunk)
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
        except HubSpotRefused as exc:
            if exc.status == 409:  # some already exist (unique property): take them, create the rest once
                for d_id, remote in self.read_by_key(api, batch, object_type, chunk, key_of, id_property).items():
                    batch.ok(next(d for d in chunk if d.id == d_id), remote)
                rest = batch.open(chunk)
                if rest:
                    answer = self.call(batch, api.crm.objects.batch_api.create_with_http_info, object_type,
                                       {"inputs": [input_of(d, batch) for d in rest]}, write=True)
                    self._match(batch, rest, answer, key_of, id_property)
                return
            if exc.missing:
                raise  # the kind's property or object is missing: settled for the kind
            for d in chunk:  # this chunk's data was refused; the other chunks go on
                batch.fail(d, str(exc), permanent=True)
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
        # A company's domain is not unique in HubSpot: the company carries the Chorus
        # key (one per domain) in chorus_id, which is.
        self.create_missing(api, batch, "companies", items,
                            input_of=lambda d, b: {"properties": {"name": d.payload["name"],
                                                                  "domain": d.payload["domain"],
                                                                  KEY_PROPERTY: d.idempotency_key,
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
            except HubSpotRefused as exc:
                if exc.missing:
                    raise
                for _, ds, _ in chunk:  # these records were refused (one deleted since); the rest go on
                    for d in batch.open(ds):
                        batch.fail(d, str(exc), permanent=True)
                continue
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
        engagement_type, moment_type = objects["engagement"], objects["moment"]  # objectTypeIds from the set-up
        failed: dict[int, Exception] = {}
        engagement_ids: dict[str, str] = {}
        moment_ids: dict[str, str] = {}

        def attempt(owners: list[Delivery], fn, *args) -> dict | None:
            live = [d for d in owners if d.id not in failed]
            if not live:
                return None
            if batch.stopped:
                for d in live:
                    failed[d.id] = batch.stopped
                return None
            try:
                return self.call(batch, fn, *args, write=True)
            except (Transient, Throttled, Refused) as exc:
                if isinstance(exc, Throttled):
                    batch.stopped = exc
                for d in live:
                    failed[d.id] = exc
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
            exc = failed.get(d.id)
            if isinstance(exc, Throttled):
                batch.wait(d, exc)
            elif exc is not None:
                batch.fail(d, str(exc), permanent=isinstance(exc, Refused))
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
