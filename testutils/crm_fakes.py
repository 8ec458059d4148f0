"""Local stand-ins for Salesforce, HubSpot and Dataverse that keep what they are
sent, for wire-level tests and ``bench/crm_push.py``. Each is a request handler for
a pytest-httpserver ``HTTPServer`` (HTTPS with a trustme CA in tests and bench), so
the real client libraries talk to them over the wire.

``faults`` (0..1) makes that share of calls fail the ways real CRMs do: 429 with
Retry-After, 503, a response slower than the client's timeout *after* the write
was applied, or a connection dropped without an answer after the write (the last
two are the cases that duplicate records when a retry re-creates blindly).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import re
import socket
import threading
import time
from collections import Counter, defaultdict
from urllib.parse import unquote

from werkzeug import Request, Response

SLOW_SECONDS = 0.6  # longer than the timeout tests and the bench give the clients
FAULT_KINDS = ("429", "503", "slow", "drop")


class FakeCrm:
    def __init__(self, *, faults: float = 0.0, seed: int = 7, limit: int = 1_000_000):
        self.faults = faults
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, object]] = []  # method, path, json body (or text)
        self.fault_counts: Counter = Counter()
        self.records: dict[str, list[dict]] = defaultdict(list)
        self.ids = itertools.count(1)
        self.limit = limit
        self.used = 0
        self.index: dict[tuple, dict] = {}  # (kind, field, value) → record, for upserts
        self.next_faults: list[str] = []  # faults for the next calls, in order ("" = none), before `faults`

    # -- faults ------------------------------------------------------------------------------

    def _fault(self) -> str:
        if self.next_faults:
            kind = self.next_faults.pop(0)
        elif self.faults and self.rng.random() < self.faults:
            kind = self.rng.choice(FAULT_KINDS)
        else:
            return ""
        if kind:
            self.fault_counts[kind] += 1
        return kind

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.used += 1
            body = request.get_data(as_text=True)
            try:
                parsed = json.loads(body) if body and request.mimetype == "application/json" else body
            except ValueError:
                parsed = body
            self.calls.append((request.method, request.path, parsed))
            fault = self._fault()
            if fault == "429":
                return self.too_many()
            if fault == "503":
                return Response("Service Unavailable", status=503, headers={"Retry-After": "1"})
            response = self.dispatch(request, parsed)
        if fault == "slow":
            time.sleep(SLOW_SECONDS)  # the write happened; the client gives up before hearing so
        if fault == "drop":
            hang_up(request)  # the write happened; the client hears nothing at all
        return response

    def too_many(self) -> Response:
        return Response(json.dumps({"message": "slow down"}), status=429, headers={"Retry-After": "1"},
                        content_type="application/json")

    def dispatch(self, request: Request, body) -> Response:
        raise NotImplementedError

    def json(self, data, status: int = 200, **headers) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json", headers=headers)

    def count(self, kind: str) -> int:
        return len(self.records[kind])

    def duplicates(self, kind: str, key: str) -> int:
        c = Counter(r.get(key) for r in self.records[kind])
        return sum(n - 1 for n in c.values() if n > 1)


def hang_up(request: Request) -> None:
    """Close the connection without an answer, as a crashed proxy or a restarted
    node does: the client sees the peer go away (``RemoteDisconnected``, a
    ``ConnectionError`` to requests, a ``ProtocolError`` to urllib3), never an HTTP
    status. werkzeug's dev server hands its socket over in the environ; writing the
    response afterwards fails with a broken pipe, which werkzeug ignores."""
    request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)


class FakeSalesforce(FakeCrm):
    """sObject Collections create/update, SOQL look-ups by one field, Composite Graph
    upserts on an external id, and Bulk API 2.0 insert jobs (``bulk_errors``: a
    cell value → the ``sf__Error`` its row fails with)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.jobs: dict[str, dict] = {}
        self.bulk_errors: dict[str, str] = {}
        # Status polls a job still answers InProgress after the first; when > 0 its
        # records only appear when it completes (a big job, still saving).
        self.job_runs_for = 0

    prefix = {"Task": "00T", "Event": "00U", "Contact": "003", "Account": "001", "ContentVersion": "068",
              "Chorus_Engagement__c": "a01", "Chorus_Moment__c": "a02"}

    def new_id(self, sobject: str) -> str:
        return f"{self.prefix.get(sobject, 'a00')}{next(self.ids):015d}"

    def too_many(self) -> Response:
        return self.json([{"errorCode": "TOO_MANY_REQUESTS", "message": "Slow down"}], status=429,
                         **{"Retry-After": "1"})

    def dispatch(self, request, body):
        path = request.path.split("/services/data/v59.0/", 1)[-1]
        headers = {"Sforce-Limit-Info": f"api-usage={self.used}/{self.limit}"}
        if self.used > self.limit:
            return self.json([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
                             status=403, **headers)
        if path == "composite/sobjects" and request.method == "POST":
            out = []
            for rec in body["records"]:
                sobject = rec["attributes"]["type"]
                new = {k: v for k, v in rec.items() if k != "attributes"}
                new["Id"] = self.new_id(sobject)
                self.records[sobject].append(new)
                out.append({"id": new["Id"], "success": True, "errors": []})
            return self.json(out, 200, **headers)
        if path == "composite/sobjects" and request.method == "PATCH":
            out = []
            for rec in body["records"]:
                sobject = rec["attributes"]["type"]
                self.records[f"{sobject}.updates"].append({k: v for k, v in rec.items() if k != "attributes"})
                out.append({"id": rec["id"], "success": True, "errors": []})
            return self.json(out, 200, **headers)
        if path == "composite/graph":
            graphs = []
            for g in body["graphs"]:
                responses = []
                for node in g["compositeRequest"]:
                    _, sobject, field, value = node["url"].rsplit("/", 3)
                    existing = self.index.get((sobject, field, unquote(value)))
                    if existing is None:
                        existing = {"Id": self.new_id(sobject), field: unquote(value)}
                        self.records[sobject].append(existing)
                        self.index[(sobject, field, unquote(value))] = existing
                        status = 201
                    else:
                        status = 200
                    existing.update(node["body"])
                    responses.append({"body": {"id": existing["Id"], "created": status == 201},
                                      "httpHeaders": {}, "httpStatusCode": status,
                                      "referenceId": node["referenceId"]})
                graphs.append({"graphId": g["graphId"], "graphResponse": {"compositeResponse": responses},
                               "isSuccessful": True})
            return self.json({"graphs": graphs}, 200, **headers)
        if path.startswith("query"):
            return self.json(self.query(request.args.get("q", "")), 200, **headers)
        if path.startswith("jobs/ingest"):
            return self.ingest(request.method, path.split("/")[2:], body, headers)
        return self.json([{"errorCode": "NOT_FOUND", "message": path}], 404)

    # -- Bulk API 2.0 ingest (insert) ----------------------------------------------------------

    def ingest(self, method: str, parts: list[str], body, headers: dict) -> Response:
        """``POST jobs/ingest``, ``PUT …/{id}/batches`` (CSV), ``PATCH …/{id}``
        (UploadComplete runs the job; the first status poll still says InProgress),
        ``GET …/{id}``, ``GET …/{id}/successfulResults/`` and ``…/failedResults/``."""
        if method == "POST" and not parts:
            job_id = f"750{next(self.ids):015d}"
            self.jobs[job_id] = job = {
                "id": job_id, "operation": body["operation"], "object": body["object"], "state": "Open",
                "contentType": body.get("contentType", "CSV"), "lineEnding": body.get("lineEnding", "LF"),
                "columnDelimiter": body.get("columnDelimiter", "COMMA"), "apiVersion": 59.0,
                "contentUrl": f"services/data/v59.0/jobs/ingest/{job_id}/batches"}
            return self.json(job, 200, **headers)
        job = self.jobs.get(parts[0]) if parts else None
        if job is None:
            return self.json([{"errorCode": "NOT_FOUND", "message": "job"}], 404)
        tail = parts[1] if len(parts) > 1 else ""
        if method == "PUT" and tail == "batches" and job["state"] == "Open":
            job["csv"] = body
            return Response("", status=201)
        if method == "PATCH" and body.get("state") == "UploadComplete":
            self.run_job(job)
            return self.json(self.job_info(job), 200, **headers)
        if method == "GET" and not tail:
            info = self.job_info(job)
            if job["state"] == "InProgress":
                job["polls_left"] -= 1
                if job["polls_left"] <= 0:
                    job["state"] = "JobComplete"
                    for sobject, record in job.pop("pending", None) or []:  # saved as the job ends
                        self.records[sobject].append(record)
            return self.json(info, 200, **headers)
        if method == "GET" and tail in ("successfulResults", "failedResults"):
            rows = job["succeeded"] if tail == "successfulResults" else job["failed"]
            columns = ["sf__Id", "sf__Created" if tail == "successfulResults" else "sf__Error"] + job["columns"]
            out = io.StringIO()
            writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([[row.get(c, "") for c in columns] for row in rows])
            return Response(out.getvalue(), status=200, content_type="text/csv", headers=headers)
        return self.json([{"errorCode": "INVALIDJOBSTATE", "message": job["state"]}], 400)

    def run_job(self, job: dict) -> None:
        reader = csv.DictReader(io.StringIO(job.get("csv", "")))
        job.update(columns=list(reader.fieldnames or []), succeeded=[], failed=[], state="InProgress",
                   polls_left=1 + self.job_runs_for)
        saved_late = job["pending"] = [] if self.job_runs_for else None
        for row in reader:
            error = next((self.bulk_errors[v] for v in row.values() if v in self.bulk_errors), None)
            if error:
                job["failed"].append({**row, "sf__Id": "", "sf__Error": error})
                continue
            new = {k: v for k, v in row.items() if v != ""}
            new["Id"] = self.new_id(job["object"])
            if saved_late is None:
                self.records[job["object"]].append(new)
            else:
                saved_late.append((job["object"], new))
            job["succeeded"].append({**row, "sf__Id": new["Id"], "sf__Created": "true"})

    @staticmethod
    def job_info(job: dict) -> dict:
        done = job.get("succeeded", []) + job.get("failed", [])
        return {k: v for k, v in job.items() if k not in ("csv", "columns", "succeeded", "failed")} | {
            "numberRecordsProcessed": len(done), "numberRecordsFailed": len(job.get("failed", []))}

    def query(self, soql: str) -> dict:
        m = re.match(r"SELECT Id, (\w+)(?:, \w+)* FROM (\w+) WHERE (\w+) IN \((.*?)\)", soql)
        if not m:
            return {"totalSize": 0, "done": True, "records": []}
        sobject, field = m.group(2), m.group(3)
        values = set(re.findall(r"'((?:[^'\\]|\\.)*)'", m.group(4)))
        values = {v.replace("\\'", "'").replace("\\\\", "\\") for v in values}
        rows = [r for r in self.records[sobject] if r.get(field) in values]
        if sobject == "Event":
            lo, hi = re.findall(r"StartDateTime [<>]= (\S+)", soql)
            rows = [r for r in rows if lo[:19] <= r["StartDateTime"][:19] <= hi[:19]]
        fields = ["Id"] + [f.strip() for f in soql.split(" FROM ")[0][7:].split(",")][1:]
        records = [{"attributes": {"type": sobject}, **{f: r.get(f) for f in fields}} for r in rows]
        return {"totalSize": len(records), "done": True, "records": records}


class FakeHubSpot(FakeCrm):
    """CRM v3 batch create/read/update/upsert and v4 association batches; a
    ``chorus_id`` or ``email`` already present answers 409 like a unique property."""

    def dispatch(self, request, body):
        headers = {"X-HubSpot-RateLimit-Daily": str(self.limit),
                   "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.limit - self.used)),
                   "X-HubSpot-RateLimit-Remaining": "150", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
        m = re.match(r"/crm/v3/objects/([^/]+)/batch/(create|read|update|upsert)$", request.path)
        if m:
            object_type, action = m.groups()
            store = self.records[object_type]
            if action == "create":
                for inp in body["inputs"]:
                    props = inp["properties"]
                    for unique in ("chorus_id", "email", "domain"):
                        if props.get(unique) and (object_type, unique, props[unique]) in self.index:
                            return self.json({"status": "error", "category": "CONFLICT",
                                              "message": f"{unique} already exists"}, 409, **headers)
                out = []
                for inp in body["inputs"]:
                    rec = {"id": str(next(self.ids)), "properties": dict(inp["properties"]),
                           "associations": inp.get("associations", [])}
                    store.append(rec)
                    for unique in ("chorus_id", "email", "domain"):
                        if rec["properties"].get(unique):
                            self.index[(object_type, unique, rec["properties"][unique])] = rec
                    out.append(self._public(rec))
                return self.json({"status": "COMPLETE", "results": out}, 201, **headers)
            if action == "read":
                prop = body.get("idProperty", "hs_object_id")
                found = [self.index.get((object_type, prop, i["id"])) for i in body["inputs"]]
                out = [self._public(r) for r in found if r is not None]
                return self.json({"status": "COMPLETE", "results": out}, 200, **headers)
            if action == "update":
                for inp in body["inputs"]:
                    self.records[f"{object_type}.updates"].append(inp)
                return self.json({"status": "COMPLETE", "results": [
                    {"id": i["id"], "properties": i["properties"]} for i in body["inputs"]]}, 200, **headers)
            out = []
            for inp in body["inputs"]:
                prop = inp["idProperty"]
                rec = self.index.get((object_type, prop, inp["id"]))
                if rec is None:
                    rec = {"id": str(next(self.ids)), "properties": {prop: inp["id"]}}
                    store.append(rec)
                    self.index[(object_type, prop, inp["id"])] = rec
                rec["properties"].update(inp["properties"])
                out.append({**self._public(rec), "new": False})
            return self.json({"status": "COMPLETE", "results": out}, 200, **headers)
        m = re.match(r"/crm/v4/associations/([^/]+)/([^/]+)/batch/create$", request.path)
        if m:
            for inp in body["inputs"]:
                link = (m.group(1), inp["from"]["id"], m.group(2), inp["to"]["id"])
                if ("association",) + link not in self.index:
                    self.index[("association",) + link] = {}
                    self.records["associations"].append(link)
            return self.json({"status": "COMPLETE", "results": []}, 201, **headers)
        return self.json({"message": "not found"}, 404)

    def duplicates(self, kind: str, key: str) -> int:
        c = Counter(r["properties"].get(key) for r in self.records[kind])
        return sum(n - 1 for n in c.values() if n > 1)

    @staticmethod
    def _public(rec: dict) -> dict:
        return {"id": rec["id"], "properties": rec["properties"], "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z", "archived": False}


class FakeDataverse(FakeCrm):
    """``$batch`` with change sets of ``PATCH entityset(id)`` upserts."""

    def dispatch(self, request, body):
        if not request.path.endswith("$batch"):
            return self.json({"error": {"message": "not found"}}, 404)
        boundary = re.search(r"boundary=(\S+)", request.headers["Content-Type"]).group(1)
        out_boundary = "batchresponse_fake"
        parts = []
        for n, part in enumerate(body.split("--" + boundary)[1:-1]):
            cs = re.search(r"boundary=(\S+)", part).group(1)
            ops = []
            for op in part.split("--" + cs)[1:-1]:
                m = re.search(r"^(PATCH|POST) (\S+) HTTP/1\.1", op, re.M)
                payload = json.loads(op.strip().rsplit("\r\n\r\n", 1)[-1])
                entity, rid = re.match(r".*/(\w+)\(([^)]+)\)$", m.group(2)).groups()
                ops.append((entity, rid, payload))
            for entity, rid, payload in ops:
                rec = self.index.get((entity, rid))
                if rec is None:
                    rec = self.index[(entity, rid)] = {"id": rid, **payload}
                    self.records[entity].append(rec)
                else:
                    rec.update(payload)
            inner = "\r\n".join(
                [f"--changesetresponse_{n}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                 f"Content-ID: {i}\r\n\r\nHTTP/1.1 204 No Content\r\nOData-EntityId: x/{e}({r})\r\n"
                 for i, (e, r, _) in enumerate(ops, start=1)])
            parts.append(f"--{out_boundary}\r\nContent-Type: multipart/mixed; boundary=changesetresponse_{n}\r\n\r\n"
                         f"{inner}\r\n--changesetresponse_{n}--\r\n")
        text = "".join(parts) + f"--{out_boundary}--\r\n"
        return Response(text, status=200, content_type=f"multipart/mixed; boundary={out_boundary}")


# --- Workers that die ------------------------------------------------------------------------------


class Killed(BaseException):
    """A worker dying mid-batch (a BaseException: no sender or outbox code catches it)."""


def kill_twice(monkeypatch, cls, name: str, fake: FakeCrm, *, every: int, when=lambda args, kw: True) -> list:
    """Make ``cls.name`` raise :class:`Killed` right after it has run (the CRM has
    the write, the outbox never hears), twice: once ``fake`` has seen ``every``
    calls, and again ``every`` calls later. Returns the (args, kwargs) of the calls
    that died."""
    real, kills = getattr(cls, name), []

    def dying(self, *args, **kw):
        result = real(self, *args, **kw)
        if when(args, kw) and len(kills) < 2 and len(fake.calls) > every * (len(kills) + 1):
            kills.append((args, kw))
            raise Killed
        return result

    monkeypatch.setattr(cls, name, dying)
    return kills


def _run_outbox(*, rounds: int, start, step, done_statuses: tuple[str, ...], limit: int = 5000) -> None:
    """Run the worker until every delivery is in ``done_statuses`` (or ``rounds`` run
    out), jumping the clock ``step`` past the waits, surviving killed workers."""
    import contextlib

    from django.utils import timezone

    from integrations.models import Delivery
    from integrations.outbox import outbox_process

    now = start or timezone.now()
    for _ in range(rounds):
        with contextlib.suppress(Killed):
            outbox_process(limit=limit, now=now)
        if not Delivery.objects.exclude(status__in=done_statuses).exists():
            return
        now += step


def drain(rounds: int = 40, start=None) -> None:
    """Run the worker until nothing is due (sent or given up), two hours a round."""
    from datetime import timedelta

    _run_outbox(rounds=rounds, start=start, step=timedelta(hours=2), done_statuses=("sent", "failed"))


def drain_through_kills(*, rounds: int = 60, step=None, limit: int = 5000) -> None:
    """Run the outbox until everything is sent (or ``rounds`` run out), surviving
    killed workers and jumping the clock ``step`` (default: past every wait)."""
    from datetime import timedelta

    from django.conf import settings

    _run_outbox(rounds=rounds, start=None, limit=limit, done_statuses=("sent",),
                step=step or timedelta(seconds=settings.OUTBOX_BACKOFF_MAX_SECONDS))


def matrix(org, **cells) -> None:
    """Set cells (and ``contacts_for_moments``) of the org's CRM Objects Creation matrix."""
    from crm.push.services import crm_objects_settings_get

    row = crm_objects_settings_get(org=org)
    for name, value in cells.items():
        setattr(row, name, value)
    row.save()


def serve(server, fake: FakeCrm, pattern: str) -> FakeCrm:
    """``fake`` answers every request to ``server`` whose path matches ``pattern``."""
    server.expect_request(re.compile(pattern)).respond_with_handler(fake.handle)
    return fake


# --- Data for tests and the bench ----------------------------------------------------------------

TRACKER_NAMES = ("Budget", "Competitor 1", "Pain", "Timing", "Authority")


def seed_engagements(*, org, owner, count: int, moments: int = 5, prefix: str = "Meeting",
                     kind: str = "recording", start=None):
    """``count`` recorded meetings, each with its owner, one new external person (a new
    contact), ``moments`` tracker hits, an account and an opportunity — in a handful
    of bulk inserts."""
    from datetime import timedelta

    from django.utils import timezone

    from chorus.models import Engagement, Moment, Participant, Tracker

    start = start or timezone.now().replace(microsecond=0) - timedelta(days=1)
    trackers = [Tracker.objects.get_or_create(org=org, name=name)[0] for name in TRACKER_NAMES]
    engagements = Engagement.objects.bulk_create([
        Engagement(org=org, kind=kind, title=f"{prefix} {i}", started_at=start + timedelta(minutes=i),
                   duration_seconds=1800, owner=owner, source="bench", external_id=f"{prefix}-{i}",
                   recording_url=f"https://chorus.ai/meeting/{i}", next_steps=[f"Send the proposal #{i}"],
                   crm_account_id=f"001{i:015d}", crm_opportunity_id=f"006{i:015d}")
        for i in range(count)])
    people = []
    for i, e in enumerate(engagements):
        people.append(Participant(org=org, engagement=e, name=owner.full_name, email=owner.email, is_internal=True))
        people.append(Participant(org=org, engagement=e, name=f"Prospect {i}", title="VP Sales",
                                  email=f"prospect{i}@customer{i % 50}.example"))
    Participant.objects.bulk_create(people)
    Moment.objects.bulk_create([
        Moment(org=org, engagement=e, tracker=trackers[j % len(trackers)], at_seconds=60 * (j + 1),
               text=f"moment {j}", speaker=f"Prospect {i}")
        for i, e in enumerate(engagements) for j in range(moments)])
    return engagements


def budget_meeting(org, rep, *, account: str, opportunity: str, **kw):
    """The push tests' meeting: the seed's title, a rep and Willy Wonka of Wonka
    Industries, one Budget moment, tied to ``account`` and ``opportunity`` (ids of the
    CRM at hand)."""
    from datetime import timedelta

    from django.utils import timezone

    from chorus.models import Tracker
    from testutils.factories import EngagementFactory, MomentFactory, ParticipantFactory

    defaults = {"title": "Wonka and Schrute Farms Connect", "crm_account_id": account,
                "crm_opportunity_id": opportunity, "recording_url": "https://chorus.ai/meeting/1",
                "next_steps": ["Send the invite"],
                "started_at": timezone.now().replace(microsecond=0) - timedelta(hours=1)}
    e = EngagementFactory(org=org, owner=rep, **{**defaults, **kw})
    ParticipantFactory(engagement=e, name="Rey Rep", email="rep@acme.example", is_internal=True)
    ParticipantFactory(engagement=e, name="Willy Wonka", title="CEO", email="willy@wonka.example")
    MomentFactory(engagement=e, org=org, tracker=Tracker.objects.get_or_create(org=org, name="Budget")[0],
                  at_seconds=5, text="What is the budget?", speaker="Willy Wonka")
    return e
