"""Local stand-ins for Salesforce, HubSpot and Dataverse that keep what they are
sent, for wire-level tests and ``bench/crm_push.py``. Each is a request handler for
a pytest-httpserver ``HTTPServer`` (HTTPS with a trustme CA in tests and bench), so
the real client libraries talk to them over the wire.

``faults`` (0..1) makes that share of calls fail the ways real CRMs do: 429 with
Retry-After, 503, or a response slower than the client's timeout *after* the write
was applied (the case that duplicates records when a retry re-creates blindly).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import time
from collections import Counter, defaultdict
from urllib.parse import unquote

from werkzeug import Request, Response

SLOW_SECONDS = 0.6  # longer than the timeout tests and the bench give the clients


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

    # -- faults ------------------------------------------------------------------------------

    def _fault(self) -> str:
        if self.faults and self.rng.random() < self.faults:
            kind = self.rng.choice(["429", "503", "slow"])
            self.fault_counts[kind] += 1
            return kind
        return ""

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


class FakeSalesforce(FakeCrm):
    """sObject Collections create/update, SOQL look-ups by one field, Composite Graph
    upserts on an external id."""

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
        return self.json([{"errorCode": "NOT_FOUND", "message": path}], 404)

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
