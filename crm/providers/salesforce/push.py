"""Salesforce: sObject Collections (200 records a call) for accounts, contacts,
tasks/events, tracker fields and transcripts; Composite Graph for the managed
package's Engagement with its Moments (one graph per engagement, upserted on the
``Chorus_Id__c`` external id, up to 75 graphs / 500 nodes a call). The package's
object, field and relationship names (namespaced: ``affectlayer__Chorus_Id__c``) and
text lengths come from its metadata (``crm.providers.salesforce.package``), so the
push writes exactly what the package defines.

Through simple-salesforce (``sf.restful``: it has no Collections helper). Each
response's ``Sforce-Limit-Info`` is read to stop before the daily allowance runs out.

Limits, as Salesforce documents them: ``REQUEST_LIMIT_EXCEEDED`` is the code of both
the daily allocation ("TotalRequests Limit exceeded", HTTP 403 — a long pause) and
the concurrent long-running request limit ("ConcurrentRequests … Limit exceeded" —
seconds); a 429 or a 503 with ``Retry-After`` is a short wait of exactly that long.
A create whose answer was lost is looked up on its next attempt: tasks by
``CallObject`` (it carries the Chorus key), contacts by email, accounts by website,
transcripts by file name, events by subject and start; the package's Engagement and
Moments are upserted on their ``Chorus_Id__c`` external id.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.util import call_salesforce

from crm.providers.salesforce.connect import API_VERSION
from crm.providers.salesforce.package import NAMESPACE, api_name, package_objects
from crm.push.clients import PushHttp, refresh_access_token
from crm.push.sender import Batch, CrmPushSender, Refused, Throttled, Transient, chunks
from integrations.http import parse_retry_after
from integrations.models import Delivery

COLLECTION_MAX = 200
GRAPH_MAX_NODES = 500
GRAPH_MAX_GRAPHS = 75
QUERY_IN_MAX = 200  # keys per lookup query, well inside SOQL's 100,000 characters
ENGAGEMENT_OBJECT, MOMENT_OBJECT = api_name("Chorus_Engagement__c"), api_name("Chorus_Moment__c")
EXTERNAL_ID = api_name("Chorus_Id__c")
ENGAGEMENT_RELATIONSHIP = api_name("Engagement__r")  # a Moment names its Engagement by external id
TRACKERS_FIELD = api_name("Chorus_Trackers__c")  # text field on Opportunity/Account (seed: "Chorus Competitor")
LEAD_ID_PREFIX = "00Q"  # a Lead's id (key prefix); any other person is a Contact

# Per-record errors worth another try; anything else is a permanent answer.
RETRYABLE = {"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "SERVER_UNAVAILABLE"}
# What Salesforce answers for an object or field the org does not have (the managed
# package not installed, a field removed) or a permission Chorus's user lacks.
MISSING = {"NOT_FOUND", "INVALID_TYPE", "INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE",
           "INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY", "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"}
PACKAGE_MISSING = ("Salesforce has no {what}: the Chorus managed package is not installed (or Chorus's user can't "
                   "see it). Install it from {url} and use Push again. ({detail})")
# https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm
# The 24-hour allocation answers 403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit
# exceeded"; the same code with "ConcurrentRequests" is the limit of concurrent
# long-running requests, which clears within seconds (20 s is its window).
DAILY_CAP_MARKER = "TotalRequests"
DAILY_PAUSE_SECONDS = 3600.0  # rolling 24 h: look again in an hour
CONCURRENT_WAIT_SECONDS = 20.0
SHORT_WAIT_SECONDS = 30.0
LIMIT_RE = re.compile(r"api-usage=(\d+)/(\d+)")
# Bulk API 2.0 (Salesforce recommends it above ~2,000 records): more records than
# this of one sObject to create in a send go as one ingest job. Its results come
# back unordered, so each object is matched on these columns (Events have no free
# key field: the subject and start, as their look-up).
BULK_THRESHOLD = 2000
BULK_KEYS = {"Account": ("Website",), "Contact": ("Email",), "Task": ("CallObject",),
             "Event": ("Subject", "StartDateTime")}
BULK_MAX_WAIT = 240.0  # seconds a send waits for its job (inside the outbox lease); then the outcome is unknown
# A job's deliveries carry its id (in ``last_error``, written before the job runs)
# until they settle: a retry first asks how that job is doing, and waits while it
# still runs — looking records up then would miss the ones it has yet to save.
BULK_MARK = "(Salesforce Bulk job {job})"
BULK_MARK_RE = re.compile(r"\(Salesforce Bulk job (\w+)\)")
BULK_RUNNING = ("UploadComplete", "InProgress")
BULK_RECHECK_SECONDS = 60.0


@dataclass
class SalesforceApi:
    sf: Salesforce
    http: PushHttp
    connection: object
    refreshed: bool = False


def soql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fit(sobject: str, field: str, value: str) -> str:
    """A text value cut to the length the package gives ``field`` (API names)."""
    length = package_objects()[sobject][field].length
    return value[:length] if length else value


def _f(local: str) -> str:
    return api_name(local)


def _sf_datetime(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%dT%H:%M:%S.000+0000") if iso else ""


class SalesforceSender(CrmPushSender):
    target = "salesforce"
    label = "Salesforce"
    # A send takes a large backlog whole (4 kinds of delivery a meeting), so that
    # more than BULK_THRESHOLD contacts or tasks of it can go as one Bulk job.
    batch_size = 20_000

    def open_api(self, connection):
        sf, http = salesforce_client(instance_url=connection.config["instance_url"],
                                     access_token=str(connection.secrets.get("access_token", "")))
        return SalesforceApi(sf, http, connection)

    # -- one HTTP call ---------------------------------------------------------------------------

    def call(self, api, batch: Batch, path: str, *, method: str = "GET", write: bool, raw: bool = False, **kwargs):
        """One REST call: its JSON answer (or, ``raw``, its text: Bulk's CSV), with
        Salesforce's errors turned into Throttled/Transient/Refused. ``write`` says
        whether the call writes (the deliveries it carries were marked before)."""
        sf, http = api.sf, api.http
        batch.http_calls += 1
        try:
            result = self._request(sf, http, path, method, raw, **kwargs)
        except SalesforceExpiredSession as exc:
            # The access token expired: CRM Connect refreshes it (and saves it) once.
            token = None if api.refreshed else refresh_access_token(api.connection)
            api.refreshed = True
            if not token:
                raise Transient(f"Salesforce no longer accepts Chorus's sign-in; reconnect Salesforce under "
                                f"CRM Connect. ({exc.status})") from exc
            sf.session_id = token
            sf.headers["Authorization"] = f"Bearer {token}"
            return self.call(api, batch, path, method=method, write=write, raw=raw, **kwargs)
        except requests.RequestException as exc:
            raise Transient(f"Salesforce did not answer ({exc.__class__.__name__}); Chorus retries.") from exc
        except SalesforceError as exc:
            self._read_usage(http, batch)
            headers = http.last_response.headers if http.last_response is not None else {}
            raise self.error_for(exc, headers.get("Retry-After")) from exc
        self._read_usage(http, batch)
        return result

    @staticmethod
    def error_for(exc: SalesforceError, retry_after: str | None) -> Exception:
        """Salesforce's refusal as Throttled (which limit, for how long), Transient
        (unknown outcome) or Refused (settled: what is missing and where to fix it)."""
        content = exc.content if isinstance(exc.content, list) else []
        first = content[0] if content and isinstance(content[0], dict) else {}
        code, message = first.get("errorCode", ""), first.get("message", "") or str(exc)
        if code == "REQUEST_LIMIT_EXCEEDED" and DAILY_CAP_MARKER in message:
            return Throttled("Salesforce's daily API allowance is used up (REQUEST_LIMIT_EXCEEDED: TotalRequests). "
                             "Chorus resumes pushing when Salesforce allows it again.", DAILY_PAUSE_SECONDS, daily=True)
        if code == "REQUEST_LIMIT_EXCEEDED":
            return Throttled(f"Salesforce's limit of concurrent API requests was reached ({message}); Chorus waits "
                             "as Salesforce asks.", parse_retry_after(retry_after, default=CONCURRENT_WAIT_SECONDS))
        if exc.status in (429, 503) and (retry_after or exc.status == 429):
            return Throttled(f"Salesforce asked Chorus to slow down (HTTP {exc.status}).",
                             parse_retry_after(retry_after, default=SHORT_WAIT_SECONDS))
        if exc.status >= 500 or exc.status in (408, 409):
            return Transient(f"Salesforce answered HTTP {exc.status}; Chorus retries.")
        if code in MISSING:
            return Refused(missing_sentence(message, code))
        return Refused(f"Salesforce refused the request (HTTP {exc.status} {code}): {message}")

    @staticmethod
    def _request(sf: Salesforce, http: PushHttp, path: str, method: str, raw: bool, **kwargs):
        if not raw:
            return sf.restful(path, method=method, **kwargs)
        # sf.restful parses every answer as JSON; Bulk's CSV and its empty 201 are not.
        headers = {**sf.headers, **kwargs.pop("headers", {})}
        return call_salesforce(url=sf.base_url + path, method=method, session=http, headers=headers, **kwargs).text

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
        """Remote ids of the deliveries an earlier attempt may have written that the
        CRM already has (found by ``field``, a key the record carries)."""
        retried = batch.retried(items)
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
                if code in MISSING:
                    batch.fail(d, missing_sentence(message, code), permanent=True)
                else:
                    batch.fail(d, f"Salesforce refused it: {message}", permanent=code not in RETRYABLE)

    def create_missing(self, api, batch: Batch, items: list[Delivery], *, sobject: str, field: str,
                       value_of, record_of) -> None:
        self.find_or_create(api, batch, items, sobject=sobject, record_of=record_of, find=lambda chunk: self.lookup(
            api, batch, chunk, sobject=sobject, field=field, value_of=value_of))

    def find_or_create(self, api, batch: Batch, items: list[Delivery], *, sobject: str, find, record_of) -> None:
        """Retried deliveries are looked up first (``find``), the rest created: 200
        at a time through Collections, each chunk on its own (see ``each_chunk``) —
        or, when more than ``BULK_THRESHOLD`` are left to create, in one Bulk API 2.0
        job after every look-up."""
        if sobject in BULK_KEYS:
            self._wait_for_earlier_jobs(api, batch, items)
            items = batch.open(items)
        bulk = sobject in BULK_KEYS and len(items) > BULK_THRESHOLD
        # From here Salesforce may have any of them (an answer can be lost after the
        # commit): the next attempt looks them all up first. One UPDATE for the kind.
        batch.before_write(items)

        def find_then_create(chunk: list[Delivery]) -> None:
            for d_id, remote_id in find(chunk).items():
                batch.ok(next(d for d in chunk if d.id == d_id), remote_id)
            if not bulk:
                self.create_each(api, batch, sobject, batch.open(chunk), record_of)

        self.each_chunk(batch, items, COLLECTION_MAX, find_then_create)
        todo = batch.open(items)
        if bulk and len(todo) > BULK_THRESHOLD:
            self.bulk_insert(api, batch, sobject, todo, {d.id: record_of(d, batch) for d in todo})
        elif bulk:
            self.each_chunk(batch, todo, COLLECTION_MAX,
                            lambda chunk: self.create_each(api, batch, sobject, chunk, record_of))

    def create_each(self, api, batch: Batch, sobject: str, items: list[Delivery], record_of) -> None:
        self.create(api, batch, items, {d.id: {"attributes": {"type": sobject}, **record_of(d, batch)} for d in items})

    # -- Bulk API 2.0 ------------------------------------------------------------------------

    def _wait_for_earlier_jobs(self, api, batch: Batch, items: list[Delivery]) -> None:
        """Retried deliveries of a Bulk job that may still be running (a worker died
        or lost the answer mid-job): while Salesforce is still saving them they wait;
        once the job has ended, the look-up by key is the truth again."""
        by_job: dict[str, list[Delivery]] = defaultdict(list)
        for d in batch.retried(items):
            if m := BULK_MARK_RE.search(d.last_error or ""):
                by_job[m.group(1)].append(d)
        for job_id, ds in by_job.items():
            try:
                job = self.call(api, batch, f"jobs/ingest/{job_id}", write=False)
            except Transient:
                continue  # gone (jobs are kept 7 days) or unreachable: the look-up decides
            if job.get("state") in BULK_RUNNING:
                for d in ds:
                    batch.fail(d, f"Salesforce is still saving these in an earlier Bulk job; Chorus checks again "
                                  f"in a minute. {BULK_MARK.format(job=job_id)}", retry_after=BULK_RECHECK_SECONDS)

    def bulk_insert(self, api, batch: Batch, sobject: str, items: list[Delivery], records: dict[int, dict]) -> None:
        """One ingest job: create it, upload the CSV, mark it UploadComplete, wait
        for it, then read which records were saved (and which refused). A lost
        answer after UploadComplete is Transient like any other: the retry looks
        the records up before creating anything."""
        job = self.call(api, batch, "jobs/ingest", method="POST", write=False, json={
            "object": sobject, "operation": "insert", "contentType": "CSV", "lineEnding": "LF",
            "columnDelimiter": "COMMA"})
        path, mark = f"jobs/ingest/{job['id']}", BULK_MARK.format(job=job["id"])
        Delivery.objects.filter(pk__in=[d.id for d in items]).update(last_error=mark)  # survives a dead worker
        try:
            self.call(api, batch, f"{path}/batches", method="PUT", write=False, raw=True,
                      data=to_csv([records[d.id] for d in items]).encode(), headers={"Content-Type": "text/csv"})
            self.call(api, batch, path, method="PATCH", write=True, json={"state": "UploadComplete"})
            job = self._bulk_wait(api, batch, path)
            self._bulk_results(api, batch, sobject, path, job, items, records)
        except Transient as exc:
            raise Transient(f"{exc} {mark}") from exc
        except Throttled as exc:
            raise Throttled(f"{exc} {mark}", exc.retry_after, daily=exc.daily) from exc

    def _bulk_results(self, api, batch: Batch, sobject: str, path: str, job: dict, items: list[Delivery],
                      records: dict[int, dict]) -> None:
        keys = BULK_KEYS[sobject]
        waiting: dict[tuple, list[Delivery]] = defaultdict(list)
        for d in items:
            waiting[tuple(str(records[d.id].get(k, "")) for k in keys)].append(d)

        def owner(row: dict) -> Delivery | None:
            ds = waiting.get(tuple(row.get(k, "") for k in keys))
            return ds.pop(0) if ds else None

        failed = int(job.get("numberRecordsFailed") or 0)
        if int(job.get("numberRecordsProcessed") or 0) > failed:
            for row in from_csv(self.call(api, batch, f"{path}/successfulResults/", write=False, raw=True)):
                if d := owner(row):
                    batch.ok(d, row["sf__Id"])
        if failed:
            for row in from_csv(self.call(api, batch, f"{path}/failedResults/", write=False, raw=True)):
                if d := owner(row):
                    code = row.get("sf__Error", "").split(":", 1)[0]
                    batch.fail(d, f"Salesforce refused it: {row.get('sf__Error', '')}", permanent=code not in RETRYABLE)
        for d in batch.open(items):  # unprocessed: the job failed or was aborted
            batch.fail(d, f"Salesforce's Bulk job ended {job.get('state')} before this record "
                          f"({job.get('errorMessage') or 'no reason given'}); Chorus checks again.")

    def _bulk_wait(self, api, batch: Batch, path: str) -> dict:
        deadline = time.monotonic() + BULK_MAX_WAIT
        while True:
            _sleep(bulk_poll_wait())
            job = self.call(api, batch, path, write=False)
            if job.get("state") in ("JobComplete", "Failed", "Aborted"):
                return job
            if time.monotonic() > deadline:
                raise Transient(f"Salesforce's Bulk job {job.get('id')} is still {job.get('state')}; Chorus checks "
                                "again later.")

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
        def record(d, b):
            p = d.payload
            return {"Subject": p["subject"], "Description": p["body"], "StartDateTime": _sf_datetime(p["starts_at"]),
                    "EndDateTime": _sf_datetime(p["ends_at"]), "Type": "Call", **self._relations(p, b)}

        self.find_or_create(api, batch, items, sobject="Event", record_of=record,
                            find=lambda chunk: self._find_events(api, batch, chunk))

    def _find_events(self, api, batch: Batch, items: list[Delivery]) -> dict[int, str]:
        """Events have no free key field: a retry looks for the same subject at the same start."""
        retried = batch.retried(items)
        found: dict[int, str] = {}
        for chunk in chunks(retried, QUERY_IN_MAX):
            subjects = ", ".join(sorted({soql_quote(d.payload["subject"]) for d in chunk}))
            starts = sorted(_sf_datetime(d.payload["starts_at"]) for d in chunk)
            soql = (f"SELECT Id, Subject, StartDateTime FROM Event WHERE Subject IN ({subjects}) "  # noqa: S608
                    f"AND StartDateTime >= {starts[0].replace('.000+0000', 'Z')} "
                    f"AND StartDateTime <= {starts[-1].replace('.000+0000', 'Z')}")
            have = {(r["Subject"], (r.get("StartDateTime") or "")[:19]): r["Id"] for r in self.query(api, batch, soql)}
            for d in chunk:
                if rid := have.get((d.payload["subject"], _sf_datetime(d.payload["starts_at"])[:19])):
                    found[d.id] = rid
        return found

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
                            TRACKERS_FIELD: fit(kind, TRACKERS_FIELD, ", ".join(ds[-1].payload["trackers"]))})
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
        person = ((p.get("who_ids") or []) + [r for k in p.get("contact_keys") or [] if (r := batch.ref(k))])[:1]
        # The person the engagement was with: a Lead (its id's prefix) or a Contact.
        lead = person[0] if person and person[0].startswith(LEAD_ID_PREFIX) else ""
        contact = person[0] if person and not lead else ""
        eng, mom = ENGAGEMENT_OBJECT, MOMENT_OBJECT
        parent = {"method": "PATCH", "url": f"{prefix}/{eng}/{EXTERNAL_ID}/{p['key']}",
                  "referenceId": "engagement", "body": {
                      "Name": fit(eng, "Name", p["title"]), _f("Type__c"): fit(eng, _f("Type__c"), p["kind"]),
                      _f("Start_Time__c"): _sf_datetime(p["started_at"]),
                      _f("Duration_Seconds__c"): p.get("duration_seconds") or 0,
                      _f("Recording_URL__c"): fit(eng, _f("Recording_URL__c"), p.get("recording_url", "")),
                      **({_f("Account__c"): p["account_id"]} if p.get("account_id") else {}),
                      **({_f("Opportunity__c"): p["opportunity_id"]} if p.get("opportunity_id") else {}),
                      **({_f("Contact__c"): contact} if contact else {}),
                      **({_f("Lead__c"): lead} if lead else {}), **self._owner(p)}}
        # A Moment is a master-detail child of its Engagement: no owner of its own.
        nodes = [parent] + [
            {"method": "PATCH", "url": f"{prefix}/{mom}/{EXTERNAL_ID}/{m['key']}", "referenceId": f"m{i}",
             "body": {ENGAGEMENT_RELATIONSHIP: {EXTERNAL_ID: p["key"]},
                      _f("Tracker__c"): fit(mom, _f("Tracker__c"), m["tracker"]),
                      _f("Seconds__c"): m["at_seconds"], _f("Text__c"): fit(mom, _f("Text__c"), m["text"]),
                      _f("Speaker__c"): fit(mom, _f("Speaker__c"), m["speaker"]),
                      **({_f("Contact__c"): contact} if contact else {})}}
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
            failed: dict[int, tuple[str, bool]] = {}
            remote: dict[int, str] = {}
            for d, graph_id in owners:
                g = by_id.get(graph_id) or {}
                responses = (g.get("graphResponse") or {}).get("compositeResponse") or []
                if not g.get("isSuccessful"):
                    failed[d.id] = graph_failure(responses)
                elif responses and responses[0].get("referenceId") == "engagement":
                    remote[d.id] = (responses[0].get("body") or {}).get("id", "")
            for d, _ in owners:
                if d.id in batch.results:
                    continue
                if d.id in failed:
                    message, permanent = failed[d.id]
                    batch.fail(d, message, permanent=permanent)
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
        groups = list(self.answers_by_record(items, batch).items())
        for chunk in chunks(groups, COLLECTION_MAX):
            records = [{"attributes": {"type": obj}, "id": rid, **{d.payload["field"]: d.payload["value"] for d in ds}}
                       for (obj, rid), ds in chunk]
            answers = self.call(api, batch, "composite/sobjects", method="PATCH",
                                json={"allOrNone": False, "records": records}, write=True)
            for (_, ds), answer in zip(chunk, answers or [], strict=False):
                for d in ds:
                    self._results(batch, [d], [answer])


def missing_sentence(message: str, code: str) -> str:
    """The refusal of an object, field or permission the org lacks, as what to do.
    The package's objects and fields (``affectlayer__Chorus_…``, ``affectlayer__…__c``)
    come with the managed package."""
    from crm.providers.salesforce.connect import provider

    ours = "Chorus_" in message or f"{NAMESPACE}__" in message
    if ours or code in ("NOT_FOUND", "INVALID_TYPE"):
        what = "Chorus object or field" if ours else "such object"
        return PACKAGE_MISSING.format(what=what, url=provider.package_url, detail=f"{code}: {message}")[:2000]
    if code.startswith("INSUFFICIENT_ACCESS"):
        return (f"Salesforce refused Chorus's user ({code}: {message}). Give the user who connected Salesforce "
                "create and edit access to this object under Setup > Profiles, then use Push again.")[:2000]
    return (f"Salesforce has no such field ({code}: {message}). Add it, or ask Chorus support to stop writing it, "
            "then use Push again.")[:2000]


def graph_failure(responses: list[dict]) -> tuple[str, bool]:
    """Why a Composite Graph was not saved, and whether that is final: a node
    refused for a missing object/field/permission is (every node after it only says
    PROCESSING_HALTED); a locked row or a timeout is worth another try."""
    errors = [e for r in responses if r.get("httpStatusCode", 200) >= 400
              for e in (r.get("body") if isinstance(r.get("body"), list) else [r.get("body") or {}])
              if isinstance(e, dict) and e.get("errorCode") != "PROCESSING_HALTED"]
    for e in errors:
        if e.get("errorCode") in MISSING:
            return missing_sentence(e.get("message", ""), e["errorCode"]), True
    if not errors:
        return "Salesforce did not save the Engagement and said nothing why; Chorus retries.", False
    detail = "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in errors)[:500]
    return f"Salesforce refused the Engagement: {detail}", not any(e.get("errorCode") in RETRYABLE for e in errors)


def to_csv(records: list[dict]) -> str:
    """Bulk's CSV: a column for every field any record has (in first-seen order),
    empty where a record has none (an insert leaves it unset); LF line endings."""
    columns = list(dict.fromkeys(k for r in records for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def from_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text or "")))


def bulk_poll_wait() -> float:
    """Seconds between job status polls: CRM Connect's Bulk setting (tests set 0)."""
    from crm.providers.salesforce import connect as provider

    return provider.BULK_POLL_WAIT


def _sleep(seconds: float) -> None:  # patched in tests
    if seconds:
        time.sleep(seconds)


def _transcript_path(d: Delivery) -> str:
    return d.idempotency_key.replace(":", "-") + ".txt"


def api_version() -> str:
    return API_VERSION


def salesforce_client(*, instance_url: str, access_token: str, timeout: Any = None) -> tuple[Salesforce, PushHttp]:
    http = PushHttp(timeout=timeout)
    sf = Salesforce(instance_url=instance_url, session_id=access_token, session=http,
                    version=API_VERSION)
    return sf, http
