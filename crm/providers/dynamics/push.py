"""Microsoft Dynamics 365 (Dataverse Web API): every object of a batch in ``$batch``
requests of up to 1,000 operations, one change set per delivery (a change set is a
transaction, so an Engagement and its Moments are saved together or not at all).
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api

Each record's id is a UUID derived from the org and the Chorus key, written with
``PATCH entityset(id)`` — Dataverse's upsert — so a record can be bound to before it
exists and a retry never makes a second one. Still, a create whose answer was lost
is looked up by that id before it is sent again (one ``$batch`` of GETs): a completed
task or appointment is read-only in Dataverse, so sending it again would be refused.
Dataverse runs a batch's change sets in order, so a task can bind to a contact
created earlier in the same request.

Lookups bind through each table's own navigation property, as ``$metadata`` names
it: a task's regarding opportunity is ``regardingobjectid_opportunity_task``, an
appointment's ``regardingobjectid_opportunity_appointment`` (Web API EntityType
reference, task / appointment: single-valued navigation properties). The Chorus
tables and columns are the solution's (``solution.py``).

Service protection limits answer 429 with ``Retry-After`` (seconds) and an error code
saying which limit; Chorus waits exactly that long.
https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import requests

from crm.providers.dynamics import solution
from crm.push.clients import PushHttp, refresh_access_token
from crm.push.sender import Batch, CrmPushSender, Refused, Throttled, Transient, chunks
from crm.push.services import crm_connection_for_push
from integrations.http import parse_retry_after
from integrations.models import Delivery
from integrations.registry import SendResult

BATCH_MAX_OPERATIONS = 1000
LOOKUP_IDS_PER_GET = 100  # ids per In() filter: well inside the URL length Dataverse takes
NAMESPACE = uuid.UUID("6f1c2d0e-4b7a-5c1e-9a57-43686f727573")  # "Chorus"
ENTITY = {"account": "accounts", "contact": "contacts", "task": "tasks", "event": "appointments",
          "transcript": "annotations", "custom_object": solution.ENGAGEMENT.entity_set}
PRIMARY_KEY = {"accounts": "accountid", "contacts": "contactid", "tasks": "activityid", "appointments": "activityid",
               "annotations": "annotationid", solution.ENGAGEMENT.entity_set: solution.ENGAGEMENT.primary_key}
# The activity table a regarding lookup lives on → its navigation property suffix.
ACTIVITY_TABLE = {"task": "task", "event": "appointment"}
TRACKERS_COLUMN = solution.TRACKERS_COLUMN
# Large change sets (an Engagement with its Moments) before single operations, so
# singles fill the space they leave; each kind still after what it binds to.
ORDER = ("account", "contact", "custom_object", "event", "task", "trackers", "transcript", "field_update")
STATUS_RE = re.compile(r"^HTTP/1\.1 (\d{3})", re.M)
# Service protection error codes (api-limits: "Service protection API limit errors returned").
LIMITS = {"0x80072322": "number of requests (6,000 per user in 5 minutes)",
          "0x80072321": "combined execution time (20 minutes per user in 5 minutes)",
          "0x80072326": "number of concurrent requests (52 per user)"}


def record_id(org_id: int, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{org_id}:{key}"))


def _minutes(p: dict) -> int:
    return max(1, round((p.get("duration_seconds") or 0) / 60))


def _error_message(text: str) -> tuple[str, str]:
    """(code, message) of a Dataverse error body."""
    try:
        error = json.loads(text).get("error") or {}
    except (ValueError, AttributeError):
        m = re.search(r'"message"\s*:\s*"([^"]*)"', text or "")
        return "", m.group(1) if m else ""
    return str(error.get("code") or ""), str(error.get("message") or "")


def refusal(status: int, message: str) -> tuple[str, bool]:
    """A change set's refusal as (sentence, final?). Dataverse's 4xx for a table,
    column or navigation property it does not have is final; so is any 4xx but a
    conflict or a timeout."""
    if status in (400, 404) and ("chorus_" in message or "Chorus" in message):
        return solution.NOT_INSTALLED.format(what="such table or column", detail=message)[:500], True
    return f"Dynamics refused it (HTTP {status}): {message}"[:500], 400 <= status < 500 and status not in (
        408, 409, 412, 429)


class DynamicsSender(CrmPushSender):
    target = "dynamics"
    label = "Microsoft Dynamics"

    def open_api(self, connection):
        return dynamics_http(org_url=connection.config["org_url"],
                             access_token=str(connection.secrets.get("access_token", "")))

    def send(self, deliveries: list[Delivery]) -> list[SendResult]:
        org = deliveries[0].org
        connection = crm_connection_for_push(org=org)
        if connection is None or connection.provider != self.target:
            return super().send(deliveries)
        batch = Batch(deliveries)
        self._load_references(batch)
        http, base = self.open_api(connection)
        try:
            retried = [d for d in batch.retried(deliveries) if d.kind in ENTITY]
            if retried:
                self.settle(batch, retried, lambda: self.lookup(http, base, retried, batch), what="look-ups")
            changesets = self._changesets(batch)
            batch.before_write([d for d, _ in changesets if d.kind in ENTITY])
            for request in self.pack(changesets):
                owners = [d for d, _ in request]
                if batch.stopped:
                    for d in owners:
                        batch.wait(d, batch.stopped)
                    continue
                self.settle(batch, owners, lambda r=request: self._post_batch(http, base, r, batch), what="$batch")
        finally:
            self._record_state(org, batch)
        return [batch.results.get(d.id) or SendResult(d.id, ok=False, error="Not sent.") for d in batch.deliveries]

    def _changesets(self, batch: Batch) -> list[tuple[Delivery, list[tuple[str, str, dict]]]]:
        """One change set per delivery still open, in dependency order. A delivery
        bound to one not settled (elsewhere, or failed in this send) waits."""
        unsettled = {d.idempotency_key for d in batch.deliveries
                     if d.id in batch.results and not batch.results[d.id].ok}
        changesets = []
        for d in sorted(batch.open(batch.deliveries), key=lambda d: ORDER.index(d.kind) if d.kind in ORDER else 99):
            waiting = [k for k in self.dependencies(d)
                       if k in unsettled or (k in batch.pending and k not in batch.keys)]
            if waiting:
                batch.fail(d, "Waiting for the contact or account it is linked to.", retry_after=30.0, waiting=True)
                unsettled.add(d.idempotency_key)
                continue
            ops = self.operations(d, batch)
            if ops is None:
                batch.fail(d, f"Microsoft Dynamics does not take “{d.kind}” objects from Chorus.", permanent=True)
            else:
                changesets.append((d, ops))
        return changesets

    @classmethod
    def pack(cls, changesets: list) -> list[list]:
        """Change sets into $batch requests of at most 1,000 operations. A change set
        is never split; the gap a large one leaves is filled with later ones that fit
        and whose dependencies are already placed (earlier, or earlier in the same
        request: Dataverse runs a batch in order), so requests stay full."""
        remaining, out, placed = list(changesets), [], set()
        while remaining:
            keys_left = {d.idempotency_key for d, _ in remaining}
            request, size, rest = [], 0, []
            for d, ops in remaining:
                ready = all(k in placed or k not in keys_left for k in cls.dependencies(d))
                if ready and size + len(ops) <= BATCH_MAX_OPERATIONS:
                    request.append((d, ops))
                    size += len(ops)
                    placed.add(d.idempotency_key)
                else:
                    rest.append((d, ops))
            if not request:  # one change set larger than a batch: Dataverse will say so
                request, rest = [rest[0]], rest[1:]
                placed.add(request[0][0].idempotency_key)
            out.append(request)
            remaining = rest
        return out

    # -- $batch ------------------------------------------------------------------------------------

    def _post(self, http: requests.Session, base: str, payload: str, boundary: str, batch: Batch) -> requests.Response:
        """One ``$batch`` POST; Dataverse's refusals of the whole request as
        Throttled (which limit, for how long), Transient or Refused."""
        batch.http_calls += 1
        try:
            response = http.post(base + "$batch", data=payload.encode(), headers={
                "Content-Type": f"multipart/mixed; boundary={boundary}", "Prefer": "odata.continue-on-error"})
        except requests.RequestException as exc:
            raise Transient(f"Dynamics did not answer ({exc.__class__.__name__}); Chorus retries.") from exc
        status = response.status_code
        if status == 401:
            refreshed = refresh_access_token(batch.deliveries[0].org.connections.filter(
                provider=self.target).exclude(status="disconnected").first())
            raise Transient("Dynamics' access token expired; " + (
                "Chorus refreshed it and retries." if refreshed else "reconnect Dynamics under CRM Connect."))
        retry_after = response.headers.get("Retry-After")
        if status == 429 or (status == 503 and retry_after):
            code, message = _error_message(response.text)
            what = LIMITS.get(code.lower(), message or f"HTTP {status}")
            raise Throttled(f"Dynamics' service protection limit was reached ({what}); Chorus waits as Dataverse "
                            "asks.", parse_retry_after(retry_after, default=30.0))
        if status >= 500:
            raise Transient(f"Dynamics answered HTTP {status}; Chorus retries.")
        if status >= 400:
            code, message = _error_message(response.text)
            raise Refused(refusal(status, message or f"HTTP {status}")[0])
        return response

    def _post_batch(self, http: requests.Session, base: str, request: list, batch: Batch) -> None:
        boundary = f"batch_{uuid.uuid4().hex}"
        parts = []
        for n, (_, ops) in enumerate(request):
            cs = f"changeset_{n}_{uuid.uuid4().hex[:8]}"
            lines = [f"--{boundary}", f"Content-Type: multipart/mixed; boundary={cs}", ""]
            for i, (method, path, body) in enumerate(ops, start=1):
                lines += [f"--{cs}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                          f"Content-ID: {i}", "", f"{method} {base}{path} HTTP/1.1",
                          "Content-Type: application/json; type=entry", "", json.dumps(body)]
            lines += [f"--{cs}--", ""]
            parts.append("\r\n".join(lines))
        payload = "\r\n".join(parts) + f"\r\n--{boundary}--\r\n"
        outcomes = self.parse_batch(self._post(http, base, payload, boundary, batch))
        failed_keys: set[str] = set()
        for n, (d, _ops) in enumerate(request):
            status, message = outcomes[n] if n < len(outcomes) else (0, "no answer for this change set")
            if 200 <= status < 300:
                batch.ok(d, re.search(r"\(([^)]+)\)", _ops[0][1]).group(1))
                continue
            failed_keys.add(d.idempotency_key)
            # A record bound to one that failed earlier in this request fails with
            # it; that is worth another try, not a permanent refusal.
            after_dependency = any(k in failed_keys for k in self.dependencies(d))
            sentence, final = refusal(status, message)
            batch.fail(d, sentence, permanent=final and not after_dependency)

    def lookup(self, http: requests.Session, base: str, items: list[Delivery], batch: Batch) -> None:
        """The records an earlier attempt may have created, read back by id: one
        ``$batch`` of GETs (100 ids a GET, ``Microsoft.Dynamics.CRM.In``); those
        found are settled, the rest are sent."""
        by_set: dict[str, list[Delivery]] = defaultdict(list)
        for d in items:
            by_set[ENTITY[d.kind]].append(d)
        boundary = f"batch_{uuid.uuid4().hex}"
        lines, asked = [], []
        for entity_set, ds in by_set.items():
            for chunk in chunks(ds, LOOKUP_IDS_PER_GET):
                ids = {record_id(d.org_id, self.record_key(d)): d for d in chunk}
                key = PRIMARY_KEY[entity_set]
                values = ",".join(f"'{i}'" for i in ids)
                query = (f"{entity_set}?$select={key}&$filter=Microsoft.Dynamics.CRM.In(PropertyName='{key}',"
                         f"PropertyValues=[{values}])")
                lines += [f"--{boundary}", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                          f"GET {base}{query} HTTP/1.1", "Accept: application/json", ""]
                asked.append((key, ids))
        payload = "\r\n".join(lines) + f"\r\n--{boundary}--\r\n"
        answers = self.parse_reads(self._post(http, base, payload, boundary, batch))
        if len(answers) != len(asked):
            raise Transient("Dynamics did not answer every look-up; Chorus retries.")
        for (key, ids), (status, body) in zip(asked, answers, strict=True):
            if status != 200:
                raise Transient(f"Dynamics answered HTTP {status} to a look-up; Chorus retries.")
            for rec in body.get("value", []):
                if (d := ids.get(str(rec.get(key, "")))) is not None:
                    batch.ok(d, rec[key])

    @staticmethod
    def parse_reads(response: requests.Response) -> list[tuple[int, dict]]:
        """(status, JSON body) of each GET part of a ``$batch`` answer, in order."""
        match = re.search(r"boundary=([^;\s]+)", response.headers.get("Content-Type", ""))
        if not match:
            return []
        out = []
        for part in response.content.decode("utf-8", "replace").split("--" + match.group(1).strip('"'))[1:]:
            if part.startswith("--"):
                break
            status = STATUS_RE.search(part)
            if not status:
                continue
            text = part.split("\r\n\r\n", 2)[-1].strip() if part.count("\r\n\r\n") >= 2 else ""
            try:
                body = json.loads(text) if text else {}
            except ValueError:
                body = {}
            out.append((int(status.group(1)), body))
        return out

    @staticmethod
    def parse_batch(response: requests.Response) -> list[tuple[int, str]]:
        """(status, message) per change set, in order: a failed change set answers
        with one error part instead of its operations' parts."""
        match = re.search(r"boundary=([^;\s]+)", response.headers.get("Content-Type", ""))
        if not match:
            return []
        text = response.content.decode("utf-8", "replace")
        out = []
        for part in text.split("--" + match.group(1).strip('"'))[1:]:
            if part.startswith("--"):
                break
            statuses = [int(s) for s in STATUS_RE.findall(part)]
            if not statuses:
                continue
            worst = max(statuses)
            message = ""
            if worst >= 400:
                m = re.search(r'"message"\s*:\s*"([^"]*)"', part)
                message = m.group(1) if m else ""
            out.append((worst, message))
        return out

    # -- the operations of one delivery ---------------------------------------------------------

    @staticmethod
    def record_key(d: Delivery) -> str:
        if d.kind == "field_update":
            return d.payload.get("activity_key") or d.idempotency_key
        return d.payload.get("key") or d.idempotency_key

    def ref(self, d: Delivery, key: str, batch: Batch) -> str:
        """A dependency's id: sent before, or made earlier in this very request."""
        if not key:
            return ""
        if key in batch.remote:
            return batch.remote[key]
        if key in batch.keys:
            return record_id(d.org_id, key)
        return ""

    def _regarding(self, p: dict, d: Delivery, batch: Batch, contacts: list[str]) -> dict:
        """The activity's "regarding" record. ``regardingobjectid`` is polymorphic:
        each target has its own navigation property on each activity table
        (``regardingobjectid_opportunity_task``, ``…_appointment``)."""
        table = ACTIVITY_TABLE[d.kind]
        if p.get("opportunity_id"):
            return {f"regardingobjectid_opportunity_{table}@odata.bind": f"/opportunities({p['opportunity_id']})"}
        account = p.get("account_id") or self.ref(d, p.get("account_key", ""), batch)
        if account:
            return {f"regardingobjectid_account_{table}@odata.bind": f"/accounts({account})"}
        if contacts:
            return {f"regardingobjectid_contact_{table}@odata.bind": f"/contacts({contacts[0]})"}
        return {}

    def operations(self, d: Delivery, batch: Batch) -> list[tuple[str, str, dict]] | None:
        p = d.payload
        rid = record_id(d.org_id, self.record_key(d))
        owner = {"ownerid@odata.bind": f"/systemusers({p['owner_id']})"} if p.get("owner_id") else {}
        contacts = (p.get("who_ids") or []) + [r for k in p.get("contact_keys") or [] if (r := self.ref(d, k, batch))]
        if d.kind == "account":
            return [("PATCH", f"accounts({rid})", {"name": p["name"], "websiteurl": p["website"], **owner})]
        if d.kind == "contact":
            account = p.get("account_id") or self.ref(d, p.get("account_key", ""), batch)
            return [("PATCH", f"contacts({rid})", {
                "firstname": p["first_name"], "lastname": p["last_name"] or p["email"], "emailaddress1": p["email"],
                "jobtitle": p.get("title", ""),
                **({"parentcustomerid_account@odata.bind": f"/accounts({account})"} if account else {}), **owner})]
        if d.kind == "task":
            return [("PATCH", f"tasks({rid})", {
                "subject": p["subject"], "description": p["body"], "actualstart": p["starts_at"],
                "actualend": p["ends_at"], "actualdurationminutes": _minutes(p), "scheduledend": p["ends_at"],
                "statecode": 1, "statuscode": 5, **self._regarding(p, d, batch, contacts), **owner})]
        if d.kind == "event":
            return [("PATCH", f"appointments({rid})", {
                "subject": p["subject"], "description": p["body"], "scheduledstart": p["starts_at"],
                "scheduledend": p["ends_at"], **self._regarding(p, d, batch, contacts), **owner,
                "appointment_activity_parties": [
                    {"partyid_contact@odata.bind": f"/contacts({c})", "participationtypemask": 5} for c in contacts]})]
        if d.kind == "trackers":
            target = (f"opportunities({p['opportunity_id']})" if p.get("opportunity_id")
                      else f"accounts({p['account_id']})")
            return [("PATCH", target, {TRACKERS_COLUMN: ", ".join(p["trackers"])[:4000]})]
        if d.kind == "custom_object":
            started = datetime.fromisoformat(p["started_at"]).isoformat()
            parent = solution.row(solution.ENGAGEMENT, {
                "chorus_name": p["title"][:200], "chorus_startedat": started,
                "chorus_durationseconds": p.get("duration_seconds") or 0,
                "chorus_recordingurl": p.get("recording_url", ""), "chorus_chorusid": p["key"],
                **({"chorus_Account@odata.bind": f"/accounts({p['account_id']})"} if p.get("account_id") else {}),
                **({"chorus_Opportunity@odata.bind": f"/opportunities({p['opportunity_id']})"}
                   if p.get("opportunity_id") else {}),
                **({"chorus_Contact@odata.bind": f"/contacts({contacts[0]})"} if contacts else {})})
            ops = [("PATCH", f"{solution.ENGAGEMENT.entity_set}({rid})", parent)]
            for m in p.get("moments") or []:
                ops.append(("PATCH", f"{solution.MOMENT.entity_set}({record_id(d.org_id, m['key'])})",
                            solution.row(solution.MOMENT, {
                                "chorus_name": m["tracker"][:200], "chorus_tracker": m["tracker"][:200],
                                "chorus_seconds": m["at_seconds"], "chorus_text": m["text"],
                                "chorus_speaker": m["speaker"][:200], "chorus_chorusid": m["key"],
                                "chorus_Engagement@odata.bind": f"/{solution.ENGAGEMENT.entity_set}({rid})"})))
            return ops
        if d.kind == "field_update":
            rid = p.get("record_id") or self.ref(d, p.get("activity_key", ""), batch)
            if not rid:
                return None
            entity = "opportunities" if p["object"] == "Opportunity" else "tasks"
            return [("PATCH", f"{entity}({rid})", {p["field"]: p["value"]})]
        if d.kind == "transcript":
            activity = self.ref(d, p.get("activity_key", ""), batch)
            entity = (p.get("activity_key") or "").split(":")[2] if p.get("activity_key") else ""
            if activity:
                bind = {f"objectid_{'appointment' if entity == 'event' else 'task'}@odata.bind":
                        f"/{ENTITY[entity]}({activity})"}
            elif p.get("opportunity_id"):
                bind = {"objectid_opportunity@odata.bind": f"/opportunities({p['opportunity_id']})"}
            else:
                bind = {}
            return [("PATCH", f"annotations({rid})", {"subject": p["title"][:500], "notetext": p["text"],
                                                      "filename": "transcript.txt", **bind})]
        return None


DYNAMICS_API_PATH = "/api/data/v9.2/"


def dynamics_http(*, org_url: str, access_token: str, timeout: Any = None) -> tuple[PushHttp, str]:
    http = PushHttp(timeout=timeout, access_token=access_token)
    http.headers.update({"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"})
    return http, org_url.rstrip("/") + DYNAMICS_API_PATH
