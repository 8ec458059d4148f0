"""Salesforce: sObject Collections (200 records a call) for accounts, contacts,
tasks/events, tracker fields and transcripts; Composite Graph for the managed
package's Engagement with its Moments (one graph per engagement, upserted on the
``Chorus_Id__c`` external id, up to 75 graphs / 500 nodes a call).

Through simple-salesforce (``sf.restful``: it has no Collections helper). Each
response's ``Sforce-Limit-Info`` is read to stop before the daily allowance runs out.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from crm.push.clients import PushHttp, refresh_access_token, salesforce_client
from crm.push.senders.base import Batch, CrmPushSender, Throttled, Transient, chunks
from integrations.http import parse_retry_after
from integrations.models import Delivery

COLLECTION_MAX = 200
GRAPH_MAX_NODES = 500
GRAPH_MAX_GRAPHS = 75
QUERY_IN_MAX = 200  # keys per lookup query, well inside SOQL's 100,000 characters
ENGAGEMENT_OBJECT, MOMENT_OBJECT, EXTERNAL_ID = "Chorus_Engagement__c", "Chorus_Moment__c", "Chorus_Id__c"
TRACKERS_FIELD = "Chorus_Trackers__c"  # text field on Opportunity/Account (seed: "Chorus Competitor")
# Per-record errors worth another try; anything else is a permanent answer.
RETRYABLE = {"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "SERVER_UNAVAILABLE"}
LIMIT_RE = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass
class SalesforceApi:
    sf: Salesforce
    http: PushHttp
    connection: object
    refreshed: bool = False


def soql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sf_datetime(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%dT%H:%M:%S.000+0000") if iso else ""


class SalesforceSender(CrmPushSender):
    target = "salesforce"
    label = "Salesforce"

    def open_api(self, connection):
        sf, http = salesforce_client(instance_url=connection.config["instance_url"],
                                     access_token=str(connection.secrets.get("access_token", "")))
        return SalesforceApi(sf, http, connection)

    # -- one HTTP call ---------------------------------------------------------------------------

    def call(self, api, batch: Batch, path: str, *, method: str = "GET", write: bool, **kwargs):
        sf, http = api.sf, api.http
        batch.http_calls += 1
        try:
            result = sf.restful(path, method=method, **kwargs)
        except SalesforceExpiredSession as exc:
            # The access token expired: CRM Connect refreshes it (and saves it) once.
            token = None if api.refreshed else refresh_access_token(api.connection)
            api.refreshed = True
            if not token:
                raise Transient(f"Salesforce no longer accepts Chorus's sign-in; reconnect Salesforce under "
                                f"CRM Connect. ({exc.status})") from exc
            sf.session_id = token
            sf.headers["Authorization"] = f"Bearer {token}"
            return self.call(api, batch, path, method=method, write=write, **kwargs)
        except requests.RequestException as exc:
            raise Transient(f"Salesforce did not answer ({exc.__class__.__name__}); Chorus retries.") from exc
        except SalesforceError as exc:
            self._read_usage(http, batch)
            content = exc.content if isinstance(exc.content, list) else []
            code = content[0].get("errorCode", "") if content and isinstance(content[0], dict) else ""
            if code == "REQUEST_LIMIT_EXCEEDED":
                raise Throttled("Salesforce's daily API allowance is used up (REQUEST_LIMIT_EXCEEDED). Chorus "
                                "resumes pushing when Salesforce allows it again.", 3600.0, daily=True) from exc
            if exc.status in (429, 503):
                headers = http.last_response.headers if http.last_response is not None else {}
                raise Throttled(f"Salesforce asked Chorus to slow down (HTTP {exc.status}).",
                                parse_retry_after(headers.get("Retry-After"), default=30.0)) from exc
            if exc.status >= 500:
                raise Transient(f"Salesforce answered HTTP {exc.status}; Chorus retries.") from exc
            message = content[0].get("message", "") if content and isinstance(content[0], dict) else str(exc)
            raise Transient(f"Salesforce refused the request (HTTP {exc.status}): {message}") from exc
        if write:
            batch.wrote = True
        self._read_usage(http, batch)
        return result

    def _read_usage(self, http, batch: Batch) -> None:
        info = http.last_response.headers.get("Sforce-Limit-Info", "") if http.last_response is not None else ""
        if m := LIMIT_RE.search(info):
            self.note_usage(batch, int(m.group(1)), int(m.group(2)))

    def query(self, api, batch: Batch, soql: str) -> list[dict]:
        result = self.call(api, batch, "query/", params={"q": soql}, write=False)
        records = list(result.get("records", []))
        while not result.get("done", True) and result.get("nextRecordsUrl"):
            path = result["nextRecordsUrl"].split(f"/v{api.sf.sf_version}/", 1)[-1]
            result = self.call(api, batch, path, write=False)
            records += result.get("records", [])
        return records

    def lookup(self, api, batch: Batch, items: list[Delivery], *, sobject: str, field: str,
               value_of) -> dict[int, str]:
        """Remote ids of retried deliveries the CRM already has (found by ``field``)."""
        retried = [d for d in items if d.attempts > 1]
        found: dict[int, str] = {}
        for chunk in chunks(retried, QUERY_IN_MAX):
            by_value = {value_of(d): d for d in chunk}
            values = ", ".join(soql_quote(v) for v in by_value)
            soql = f"SELECT Id, {field} FROM {sobject} WHERE {field} IN ({values})"  # noqa: S608 (SOQL, quoted)
            for rec in self.query(api, batch, soql):
                d = by_value.get(rec.get(field)) or by_value.get((rec.get(field) or "").lower())
                if d is not None:
                    found[d.id] = rec["Id"]
        return found

    def create(self, api, batch: Batch, items: list[Delivery], records: dict[int, dict]) -> None:
        """POST composite/sobjects, 200 records a call, in order; one result each."""
        for chunk in chunks([d for d in items if d.id in records], COLLECTION_MAX):
            body = {"allOrNone": False, "records": [records[d.id] for d in chunk]}
            answers = self.call(api, batch, "composite/sobjects", method="POST", json=body, write=True)
            self._results(batch, chunk, answers)

    def _results(self, batch: Batch, chunk: list[Delivery], answers) -> None:
        for d, answer in zip(chunk, answers or [], strict=False):
            if answer.get("success"):
                batch.ok(d, answer.get("id") or d.payload.get("record_id", ""))
            else:
                errors = answer.get("errors") or [{}]
                code = errors[0].get("statusCode", "")
                message = "; ".join(e.get("message", "") for e in errors) or code
                batch.fail(d, f"Salesforce refused it: {message}", permanent=code not in RETRYABLE)

    def create_missing(self, api, batch: Batch, items: list[Delivery], *, sobject: str, field: str,
                       value_of, record_of) -> None:
        found = self.lookup(api, batch, items, sobject=sobject, field=field, value_of=value_of)
        for d in items:
            if d.id in found:
                batch.ok(d, found[d.id])
        todo = batch.open(items)
        self.create(api, batch, todo, {d.id: {"attributes": {"type": sobject}, **record_of(d, batch)} for d in todo})

    # -- the objects ------------------------------------------------------------------------------

    @staticmethod
    def _owner(p: dict) -> dict:
        return {"OwnerId": p["owner_id"]} if p.get("owner_id") else {}

    def send_account(self, api, items, batch):
        self.create_missing(api, batch, items, sobject="Account", field="Website",
                            value_of=lambda d: d.payload["website"],
                            record_of=lambda d, b: {"Name": d.payload["name"], "Website": d.payload["website"],
                                                    **self._owner(d.payload)})

    def send_contact(self, api, items, batch):
        def record(d, b):
            p = d.payload
            account = p.get("account_id") or b.ref(p.get("account_key", ""))
            return {"FirstName": p["first_name"], "LastName": p["last_name"] or p["email"], "Email": p["email"],
                    "Title": p.get("title", ""), **({"AccountId": account} if account else {}), **self._owner(p)}

        self.create_missing(api, batch, items, sobject="Contact", field="Email",
                            value_of=lambda d: d.payload["email"], record_of=record)

    def _relations(self, p: dict, batch: Batch) -> dict:
        who = (p.get("who_ids") or []) + [r for k in p.get("contact_keys") or [] if (r := batch.ref(k))]
        what = p.get("opportunity_id") or p.get("account_id") or batch.ref(p.get("account_key", ""))
        return {**({"WhoId": who[0]} if who else {}), **({"WhatId": what} if what else {}), **self._owner(p)}

    def send_task(self, api, items, batch):
        def record(d, b):
            p = d.payload
            return {"Subject": p["subject"], "Description": p["body"], "ActivityDate": p["starts_at"][:10],
                    "Status": "Completed", "Type": "Call", "TaskSubtype": "Call", "CallObject": d.idempotency_key,
                    "CallDurationInSeconds": p.get("duration_seconds") or 0, **self._relations(p, b)}

        # Task's standard CallObject field ("call object identifier", filterable)
        # holds the Chorus key, so a retry finds a task it already made.
        self.create_missing(api, batch, items, sobject="Task", field="CallObject",
                            value_of=lambda d: d.idempotency_key, record_of=record)

    def send_event(self, api, items, batch):
        retried = [d for d in items if d.attempts > 1]
        for chunk in chunks(retried, QUERY_IN_MAX):
            # Events have no free key field: a retry looks for the same subject at the same start.
            subjects = ", ".join(sorted({soql_quote(d.payload["subject"]) for d in chunk}))
            starts = sorted(_sf_datetime(d.payload["starts_at"]) for d in chunk)
            soql = (f"SELECT Id, Subject, StartDateTime FROM Event WHERE Subject IN ({subjects}) "  # noqa: S608
                    f"AND StartDateTime >= {starts[0].replace('.000+0000', 'Z')} "
                    f"AND StartDateTime <= {starts[-1].replace('.000+0000', 'Z')}")
            have = {(r["Subject"], (r.get("StartDateTime") or "")[:19]): r["Id"] for r in self.query(api, batch, soql)}
            for d in chunk:
                if rid := have.get((d.payload["subject"], _sf_datetime(d.payload["starts_at"])[:19])):
                    batch.ok(d, rid)
        todo = batch.open(items)
        self.create(api, batch, todo, {d.id: {
            "attributes": {"type": "Event"}, "Subject": d.payload["subject"], "Description": d.payload["body"],
            "StartDateTime": _sf_datetime(d.payload["starts_at"]), "EndDateTime": _sf_datetime(d.payload["ends_at"]),
            "Type": "Call", **self._relations(d.payload, batch)} for d in todo})

    def send_trackers(self, api, items, batch):
        """The trackers heard, written to a text field of the opportunity (or account)
        so a workflow such as the seed's "Chorus Competitor" can react. Updating is
        naturally idempotent; one record per call even when several calls share it."""
        by_record: dict[str, list[Delivery]] = {}
        for d in items:
            by_record.setdefault(d.payload.get("opportunity_id") or d.payload.get("account_id"), []).append(d)
        records, owners = [], []
        for record_id, ds in by_record.items():
            ds.sort(key=lambda d: d.payload.get("started_at", ""))
            kind = "Opportunity" if ds[-1].payload.get("opportunity_id") else "Account"
            records.append({"attributes": {"type": kind}, "id": record_id,
                            TRACKERS_FIELD: ", ".join(ds[-1].payload["trackers"])[:255]})
            owners.append(ds)
        for rec_chunk, owner_chunk in zip(chunks(records, COLLECTION_MAX), chunks(owners, COLLECTION_MAX),
                                          strict=True):
            answers = self.call(api, batch, "composite/sobjects", method="PATCH",
                                json={"allOrNone": False, "records": rec_chunk}, write=True)
            for ds, answer in zip(owner_chunk, answers or [], strict=False):
                for d in ds:
                    self._results(batch, [d], [answer])

    def _graph(self, d: Delivery, batch: Batch) -> list[list[dict]]:
        p = d.payload
        prefix = f"/services/data/v{api_version()}/sobjects"
        contact = ((p.get("who_ids") or []) + [r for k in p.get("contact_keys") or [] if (r := batch.ref(k))])[:1]
        parent = {"method": "PATCH", "url": f"{prefix}/{ENGAGEMENT_OBJECT}/{EXTERNAL_ID}/{p['key']}",
                  "referenceId": "engagement", "body": {
                      "Name": p["title"][:80], "Type__c": p["kind"], "Start_Time__c": _sf_datetime(p["started_at"]),
                      "Duration_Seconds__c": p.get("duration_seconds") or 0,
                      "Recording_URL__c": p.get("recording_url", ""),
                      **({"Account__c": p["account_id"]} if p.get("account_id") else {}),
                      **({"Opportunity__c": p["opportunity_id"]} if p.get("opportunity_id") else {}),
                      **({"Contact__c": contact[0]} if contact else {}), **self._owner(p)}}
        nodes = [parent] + [
            {"method": "PATCH", "url": f"{prefix}/{MOMENT_OBJECT}/{EXTERNAL_ID}/{m['key']}", "referenceId": f"m{i}",
             "body": {"Engagement__r": {EXTERNAL_ID: p["key"]}, "Tracker__c": m["tracker"][:255],
                      "Seconds__c": m["at_seconds"], "Text__c": m["text"], "Speaker__c": m["speaker"][:255],
                      **({"Contact__c": contact[0]} if contact else {})}}
            for i, m in enumerate(p.get("moments") or [])]
        # Children name their parent by external id, so a graph split for size still links.
        return list(chunks(nodes, GRAPH_MAX_NODES))

    def send_custom_object(self, api, items, batch):
        payloads: list[tuple[list[dict], list[tuple[Delivery, dict]]]] = []
        nodes_in, graphs, owners = 0, [], []
        for d in items:
            for n, graph_nodes in enumerate(self._graph(d, batch)):
                if graphs and (len(graphs) >= GRAPH_MAX_GRAPHS or nodes_in + len(graph_nodes) > GRAPH_MAX_NODES):
                    payloads.append((graphs, owners))
                    nodes_in, graphs, owners = 0, [], []
                graph_id = f"g{d.id}_{n}"
                graphs.append({"graphId": graph_id, "compositeRequest": graph_nodes})
                owners.append((d, graph_id))
                nodes_in += len(graph_nodes)
        if graphs:
            payloads.append((graphs, owners))
        for graphs, owners in payloads:
            answer = self.call(api, batch, "composite/graph", method="POST", json={"graphs": graphs}, write=True)
            by_id = {g.get("graphId"): g for g in (answer or {}).get("graphs", [])}
            failed: dict[int, str] = {}
            remote: dict[int, str] = {}
            for d, graph_id in owners:
                g = by_id.get(graph_id) or {}
                responses = (g.get("graphResponse") or {}).get("compositeResponse") or []
                if not g.get("isSuccessful"):
                    messages = [str(r.get("body")) for r in responses if r.get("httpStatusCode", 200) >= 400]
                    failed[d.id] = "; ".join(messages)[:500] or "the graph was not saved"
                elif responses and responses[0].get("referenceId") == "engagement":
                    remote[d.id] = (responses[0].get("body") or {}).get("id", "")
            for d, _ in owners:
                if d.id in batch.results:
                    continue
                if d.id in failed:
                    batch.fail(d, f"Salesforce refused the Engagement: {failed[d.id]}")
                else:
                    batch.ok(d, remote.get(d.id) or d.payload["key"])

    def send_transcript(self, api, items, batch):
        def record(d, b):
            p = d.payload
            parent = b.ref(p.get("activity_key", "")) or p.get("opportunity_id") or p.get("account_id")
            return {"Title": p["title"][:255], "PathOnClient": _transcript_path(d),
                    "VersionData": base64.b64encode(p["text"].encode()).decode(),
                    **({"FirstPublishLocationId": parent} if parent else {})}

        self.create_missing(api, batch, items, sobject="ContentVersion", field="PathOnClient",
                            value_of=_transcript_path, record_of=record)


    def send_field_update(self, api, items, batch):
        """A rep's answers to required CRM fields, merged per record (one record per
        Collections update), 200 records a call."""
        by_record: dict[tuple[str, str], list[Delivery]] = {}
        for d in items:
            rid = d.payload.get("record_id") or batch.ref(d.payload.get("activity_key", ""))
            if not rid:
                batch.fail(d, "The CRM record to write this answer to was not created.", permanent=True)
                continue
            by_record.setdefault((d.payload["object"], rid), []).append(d)
        groups = list(by_record.items())
        for chunk in chunks(groups, COLLECTION_MAX):
            records = [{"attributes": {"type": obj}, "id": rid, **{d.payload["field"]: d.payload["value"] for d in ds}}
                       for (obj, rid), ds in chunk]
            answers = self.call(api, batch, "composite/sobjects", method="PATCH",
                                json={"allOrNone": False, "records": records}, write=True)
            for (_, ds), answer in zip(chunk, answers or [], strict=False):
                for d in ds:
                    self._results(batch, [d], [answer])


def _transcript_path(d: Delivery) -> str:
    return d.idempotency_key.replace(":", "-") + ".txt"


def api_version() -> str:
    from crm.push.clients import SALESFORCE_API_VERSION

    return SALESFORCE_API_VERSION
