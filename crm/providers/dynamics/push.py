"""Microsoft Dynamics 365 (Dataverse Web API): every object of a batch in ``$batch``
requests of up to 1,000 operations, one change set per delivery (a change set is a
transaction, so an Engagement and its Moments are saved together or not at all).

Exactly once without look-ups: each record's id is a UUID derived from the org and
the Chorus key, written with ``PATCH entityset(id)`` — Dataverse's upsert — so a
retry updates the record the first attempt made. Dataverse runs a batch's change
sets in order, so a task can bind to a contact created earlier in the same request.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

import requests

from crm.push.clients import PushHttp, refresh_access_token
from crm.push.sender import Batch, CrmPushSender, Throttled, Transient
from crm.push.services import crm_connection_for_push
from integrations.http import parse_retry_after
from integrations.models import Delivery
from integrations.registry import RateLimited, SendResult

BATCH_MAX_OPERATIONS = 1000
NAMESPACE = uuid.UUID("6f1c2d0e-4b7a-5c1e-9a57-43686f727573")  # "Chorus"
ENTITY = {"account": "accounts", "contact": "contacts", "task": "tasks", "event": "appointments",
          "transcript": "annotations"}
TRACKERS_COLUMN = "chorus_trackers"
# Large change sets (an Engagement with its Moments) before single operations, so
# singles fill the space they leave; each kind still after what it binds to.
ORDER = ("account", "contact", "custom_object", "event", "task", "trackers", "transcript", "field_update")
STATUS_RE = re.compile(r"^HTTP/1\.1 (\d{3})", re.M)


def record_id(org_id: int, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{org_id}:{key}"))


def _minutes(p: dict) -> int:
    return max(1, round((p.get("duration_seconds") or 0) / 60))


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
        in_batch = batch.keys
        http, base = self.open_api(connection)
        changesets: list[tuple[Delivery, list[tuple[str, str, dict]]]] = []
        for d in sorted(deliveries, key=lambda d: ORDER.index(d.kind) if d.kind in ORDER else 99):
            waiting = [k for k in self.dependencies(d) if k in batch.pending and k not in in_batch]
            if waiting:
                batch.fail(d, "Waiting for the contact or account it is linked to.", retry_after=30.0)
                continue
            ops = self.operations(d, batch)
            if ops is None:
                batch.fail(d, f"Microsoft Dynamics does not take “{d.kind}” objects from Chorus.", permanent=True)
            else:
                changesets.append((d, ops))
        for request in self.pack(changesets):
            if batch.stopped:
                for rd, _ in request:
                    batch.fail(rd, str(batch.stopped), retry_after=batch.stopped.retry_after)
                continue
            try:
                self._post_batch(http, base, request, batch)
            except Throttled as exc:
                batch.stopped = exc
                if not batch.wrote:
                    raise RateLimited(exc.retry_after, str(exc)) from exc
                for rd, _ in request:
                    batch.fail(rd, str(exc), retry_after=exc.retry_after)
            except Transient as exc:
                for rd, _ in request:
                    batch.fail(rd, str(exc))
        return [batch.results.get(d.id) or SendResult(d.id, ok=False, error="Not sent.") for d in deliveries]

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
        batch.http_calls += 1
        try:
            response = http.post(base + "$batch", data=payload.encode(), headers={
                "Content-Type": f"multipart/mixed; boundary={boundary}", "Prefer": "odata.continue-on-error"})
        except requests.RequestException as exc:
            raise Transient(f"Dynamics did not answer ({exc.__class__.__name__}); Chorus retries.") from exc
        if response.status_code == 401:
            refreshed = refresh_access_token(batch.deliveries[0].org.connections.filter(
                provider=self.target).exclude(status="disconnected").first())
            raise Transient("Dynamics' access token expired; " + (
                "Chorus refreshed it and retries." if refreshed else "reconnect Dynamics under CRM Connect."))
        if response.status_code in (429, 503):
            raise Throttled(f"Dynamics asked Chorus to slow down (HTTP {response.status_code}).",
                            parse_retry_after(response.headers.get("Retry-After"), default=30.0))
        if response.status_code >= 500:
            raise Transient(f"Dynamics answered HTTP {response.status_code}; Chorus retries.")
        if response.status_code >= 400:
            raise Transient(f"Dynamics refused the batch (HTTP {response.status_code}).")
        batch.wrote = True
        outcomes = self.parse_batch(response)
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
            batch.fail(d, f"Dynamics refused it (HTTP {status}): {message}"[:500],
                       permanent=400 <= status < 500 and status not in (408, 409, 412, 429) and not after_dependency)

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
        if p.get("opportunity_id"):
            return {"regardingobjectid_opportunity@odata.bind": f"/opportunities({p['opportunity_id']})"}
        account = p.get("account_id") or self.ref(d, p.get("account_key", ""), batch)
        if account:
            return {"regardingobjectid_account@odata.bind": f"/accounts({account})"}
        if contacts:
            return {"regardingobjectid_contact@odata.bind": f"/contacts({contacts[0]})"}
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
            parent = {"chorus_name": p["title"][:200], "chorus_type": p["kind"], "chorus_startedat": started,
                      "chorus_durationseconds": p.get("duration_seconds") or 0,
                      "chorus_recordingurl": p.get("recording_url", ""), "chorus_chorusid": p["key"],
                      **({"chorus_Account@odata.bind": f"/accounts({p['account_id']})"} if p.get("account_id") else {}),
                      **({"chorus_Opportunity@odata.bind": f"/opportunities({p['opportunity_id']})"}
                         if p.get("opportunity_id") else {}),
                      **({"chorus_Contact@odata.bind": f"/contacts({contacts[0]})"} if contacts else {})}
            ops = [("PATCH", f"chorus_engagements({rid})", parent)]
            for m in p.get("moments") or []:
                ops.append(("PATCH", f"chorus_moments({record_id(d.org_id, m['key'])})", {
                    "chorus_tracker": m["tracker"][:200], "chorus_seconds": m["at_seconds"],
                    "chorus_text": m["text"], "chorus_speaker": m["speaker"][:200], "chorus_chorusid": m["key"],
                    "chorus_Engagement@odata.bind": f"/chorus_engagements({rid})"}))
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
