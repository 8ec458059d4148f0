"""A strict stand-in for the Salesforce REST API (v59.0): sObject Collections
create/update, SOQL, Composite Graph upserts on an external id, Bulk API 2.0 insert
jobs, and ``sobjects/{X}/describe``.

It refuses what Salesforce refuses: an object the org does not have (the Chorus
managed package not installed), a field the object does not have, a record of one
type written to another, a text longer than its field, a number that is not one, a
lookup to a record of the wrong object. Each rule cites the page it follows. The
fields it knows are the standard ones Chorus writes, the package's — read from the
package's own metadata (``crm.providers.salesforce.package``: namespaced names,
types, lengths, references, external ids) — and any a test adds (``custom_fields``).
"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import unquote

from werkzeug import Response

from crm.providers.salesforce.package import ACTIVITY_OBJECTS, TEXT_TYPES, package_objects
from testutils.crm_fakes.base import RETRY_AFTER_SECONDS, FakeCrm

API = "/services/data/v59.0/"

# The standard objects and the fields of them Chorus reads or writes (Object
# Reference: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/).
STANDARD = {
    "Account": {"Id", "Name", "Website", "OwnerId"},
    "Contact": {"Id", "FirstName", "LastName", "Email", "Title", "AccountId", "OwnerId"},
    "Opportunity": {"Id", "Name", "StageName", "Amount", "CloseDate", "AccountId", "OwnerId"},
    "Lead": {"Id", "FirstName", "LastName", "Email", "Company", "Title", "OwnerId"},
    # sforce_api_objects_task.htm: CallObject ("call object identifier") is a
    # standard, filterable text field — the key a retried create is found by.
    "Task": {"Id", "Subject", "Description", "ActivityDate", "Status", "Type", "TaskSubtype", "CallObject",
             "CallDurationInSeconds", "WhoId", "WhatId", "OwnerId"},
    "Event": {"Id", "Subject", "Description", "StartDateTime", "EndDateTime", "Type", "WhoId", "WhatId", "OwnerId"},
    "ContentVersion": {"Id", "Title", "PathOnClient", "VersionData", "FirstPublishLocationId"},
}


def _package() -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, str]]:
    """The Chorus managed package as its metadata defines it: its objects (with Id,
    Name, OwnerId unless a master-detail child — "the detail record has no owner":
    Metadata API Developer Guide, CustomField, MasterDetail — and each reference's
    ``__r`` relationship), the fields it adds to standard objects (``Activity``'s to
    Task and Event), and each object's external id."""
    objects, added, external = {}, {}, {}
    for name, fields in package_objects().items():
        if name == "Activity":
            continue
        if name.endswith("__c"):
            detail = any(f.type == "MasterDetail" for f in fields.values())
            objects[name] = {"Id", "Name", *fields, *({"OwnerId"} if not detail else ()),
                             *(f.relationship for f in fields.values() if f.is_reference)}
        else:
            added[name] = set(fields)
        for spec in fields.values():
            if spec.external_id:
                external[name] = spec.name
    return objects, added, external


PACKAGE, PACKAGE_FIELDS, EXTERNAL_IDS = _package()
# Key prefixes (the first three characters of an id) of the objects Chorus writes or
# points at: a lookup must hold an id of its object's prefix.
PREFIXES = {"Task": "00T", "Event": "00U", "Contact": "003", "Account": "001", "Opportunity": "006",
            "Lead": "00Q", "User": "005", "ContentVersion": "068"}
for _i, _name in enumerate(sorted(PACKAGE)):
    PREFIXES[_name] = f"a0{_i + 1}"
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
NOT_SUPPORTED = "sObject type '{0}' is not supported. If you are attempting to use a custom object, be sure to " \
                "append the '__c' after the entity name."
NO_SUCH_COLUMN = "No such column '{0}' on sobject of type {1}"
# Per-record errors of a value its field refuses (statusCode, message, fields), as
# sObject Collections answers them in its results and Composite Graph in the node:
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_create.htm
# and the codes of https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm#statuscode
# (STRING_TOO_LONG, FIELD_INTEGRITY_EXCEPTION "id value of incorrect type").
TOO_LONG = "{0}: data value too large: {1} (max length={2})"
WRONG_ID = "{0}: id value of incorrect type: {1}"
# A JSON value that is not a number for a number field: the body does not
# deserialize, so the request (or graph node) is refused whole, 400 JSON_PARSER_ERROR.
NOT_A_NUMBER = "Cannot deserialize instance of double from VALUE_STRING value {0} or request may be missing a " \
               "required field"


class SalesforceRefusal(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []

    def record_error(self) -> dict:
        """The refusal as one record's error in a Collections answer."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def node_error(self) -> dict:
        return {"errorCode": self.code, "message": self.message, "fields": self.fields}


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float) or value is None:
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class FakeSalesforce(FakeCrm):
    """``package=False``: the org has not installed the Chorus managed package.
    ``custom_fields``: {sObject: {field, …}} the org added (a required picklist).
    ``bulk_errors``: a cell value → the ``sf__Error`` its Bulk row fails with."""

    def __init__(self, *, package: bool = True, custom_fields: dict[str, set[str]] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.jobs: dict[str, dict] = {}
        self.bulk_errors: dict[str, str] = {}
        # Status polls a job still answers InProgress after the first; when > 0 its
        # records only appear when it completes (a big job, still saving).
        self.job_runs_for = 0
        self.schema: dict[str, set[str]] = {name: set(fields) for name, fields in STANDARD.items()}
        # Field specs (type, length, reference) of the package's fields, by object.
        self.specs: dict[str, dict] = {}
        if package:
            self.schema.update({name: set(fields) for name, fields in PACKAGE.items()})
            for name, fields in PACKAGE_FIELDS.items():
                if name in self.schema:
                    self.schema[name] |= fields
            objects = package_objects()
            self.specs = {name: dict(objects[name]) for name in self.schema if name in objects}
            for name in ACTIVITY_OBJECTS:
                self.specs.setdefault(name, {}).update(objects.get("Activity", {}))
        for name, fields in (custom_fields or {}).items():
            self.schema.setdefault(name, {"Id"}).update(fields)

    prefix = PREFIXES

    def new_id(self, sobject: str) -> str:
        return f"{self.prefix.get(sobject, 'a00')}{next(self.ids):015d}"

    def too_many(self) -> Response:
        # The concurrent-request limit shares the daily cap's code; only the message
        # tells them apart (app limits cheat sheet, "Concurrent API Request Limits").
        return self.json([{"errorCode": "REQUEST_LIMIT_EXCEEDED",
                           "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded."}], status=429,
                         **{"Retry-After": str(RETRY_AFTER_SECONDS)})

    # -- the rules ------------------------------------------------------------------------------

    def check(self, sobject: str, fields, *, status: int = 400) -> None:
        """An object the org has, and only fields it has (INVALID_TYPE, INVALID_FIELD;
        a JSON body naming an unknown field is refused whole, 400:
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm)."""
        if sobject not in self.schema:
            raise SalesforceRefusal(status, "INVALID_TYPE", NOT_SUPPORTED.format(sobject))
        for name in fields:
            if name != "attributes" and name not in self.schema[sobject]:
                raise SalesforceRefusal(400, "INVALID_FIELD", NO_SUCH_COLUMN.format(name, sobject))

    def check_values(self, sobject: str, record: dict) -> None:
        """Each value its package field accepts: a text within the field's length
        (STRING_TOO_LONG), a number for a Number field (JSON_PARSER_ERROR, the whole
        body), an id of the referenced object for a lookup or master-detail
        (FIELD_INTEGRITY_EXCEPTION "id value of incorrect type", by its key prefix)."""
        for name, value in record.items():
            spec = self.specs.get(sobject, {}).get(name)
            if spec is None or value is None or value == "":
                continue
            if spec.type in TEXT_TYPES and spec.length and len(str(value)) > spec.length:
                raise SalesforceRefusal(400, "STRING_TOO_LONG", TOO_LONG.format(spec.label, value, spec.length),
                                        [name])
            if spec.type in ("Number", "Currency", "Percent") and not _is_number(value):
                raise SalesforceRefusal(400, "JSON_PARSER_ERROR", NOT_A_NUMBER.format(value))
            if spec.is_reference:
                want = PREFIXES.get(spec.reference_to or "", "")
                if not isinstance(value, str) or not want or not value.startswith(want):
                    raise SalesforceRefusal(400, "FIELD_INTEGRITY_EXCEPTION", WRONG_ID.format(spec.label, value),
                                            [name])

    def check_numbers(self, sobject: str, record: dict) -> None:
        """A number that is not one fails the whole body (it does not deserialize)."""
        for name, value in record.items():
            spec = self.specs.get(sobject, {}).get(name)
            if spec is not None and spec.type in ("Number", "Currency", "Percent") and not _is_number(value):
                raise SalesforceRefusal(400, "JSON_PARSER_ERROR", NOT_A_NUMBER.format(value))

    def dispatch(self, request, body):
        path = request.path.split(API, 1)[-1]
        headers = {"Sforce-Limit-Info": f"api-usage={self.used}/{self.limit}"}
        if self.used > self.limit:
            # The 24-hour allocation: 403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit
            # exceeded." (app limits cheat sheet, "API Request Limits and Allocations").
            return self.json([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
                             status=403, **headers)
        try:
            return self.route(request, path, body, headers)
        except SalesforceRefusal as exc:
            return self.json([{"errorCode": exc.code, "message": exc.message}], exc.status, **headers)

    def route(self, request, path: str, body, headers: dict) -> Response:
        if path == "composite/sobjects" and request.method == "POST":
            return self.json(self.create(body), 200, **headers)
        if path == "composite/sobjects" and request.method == "PATCH":
            return self.json(self.update(body), 200, **headers)
        if path == "composite/graph":
            return self.json({"graphs": [self.graph(g) for g in body["graphs"]]}, 200, **headers)
        if path.startswith("query"):
            return self.json(self.query(request.args.get("q", "")), 200, **headers)
        if path.startswith("jobs/ingest"):
            return self.ingest(request.method, path.split("/")[2:], body, headers)
        m = re.match(r"sobjects/(\w+)/describe/?$", path)
        if m:
            self.check(m.group(1), (), status=404)
            return self.json({"name": m.group(1), "fields": [{"name": f} for f in sorted(self.schema[m.group(1)])]},
                             200, **headers)
        return self.json([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)

    def create(self, body: dict) -> list[dict]:
        """POST composite/sobjects: 200 records at most, each with its type; the
        request is validated whole before anything is saved, then each record saved
        in order: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_create.htm"""
        records = body["records"]
        if len(records) > 200:
            raise SalesforceRefusal(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 "
                                                              "records into this call")
        for rec in records:
            if "id" in rec or "Id" in rec:
                raise SalesforceRefusal(400, "INVALID_FIELD", "Don't set the id field for any object in a create")
            self.check(rec["attributes"]["type"], rec)
            self.check_numbers(rec["attributes"]["type"], rec)
        out = []
        for rec in records:
            sobject = rec["attributes"]["type"]
            new = {k: v for k, v in rec.items() if k != "attributes"}
            try:
                self.check_values(sobject, new)
            except SalesforceRefusal as exc:
                out.append({"success": False, "errors": [exc.record_error()]})
                continue
            new["Id"] = self.new_id(sobject)
            self.records[sobject].append(new)
            out.append({"id": new["Id"], "success": True, "errors": []})
        return out

    def update(self, body: dict) -> list[dict]:
        """PATCH composite/sobjects: each record names its type and id:
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm"""
        for rec in body["records"]:
            self.check(rec["attributes"]["type"], {k for k in rec if k != "id"})
            self.check_numbers(rec["attributes"]["type"], rec)
        out = []
        for rec in body["records"]:
            sobject = rec["attributes"]["type"]
            try:
                self.check_values(sobject, {k: v for k, v in rec.items() if k not in ("attributes", "id")})
            except SalesforceRefusal as exc:
                out.append({"id": rec["id"], "success": False, "errors": [exc.record_error()]})
                continue
            self.records[f"{sobject}.updates"].append({k: v for k, v in rec.items() if k != "attributes"})
            out.append({"id": rec["id"], "success": True, "errors": []})
        return out

    def graph(self, g: dict) -> dict:
        """One graph of Composite Graph: all or nothing. A node refused answers its
        error; the nodes after it answer PROCESSING_HALTED and nothing of the graph
        is saved ("all completed or all not completed":
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/using_resources_composite_graph.htm).
        A node's URL names an object that must exist (an unknown one is a 404 NOT_FOUND)."""
        staged, responses, failed = [], [], False
        for node in g["compositeRequest"]:
            if failed:
                responses.append({"body": [{"errorCode": "PROCESSING_HALTED",
                                            "message": "The transaction was rolled back since another operation "
                                                       "in the same transaction failed."}],
                                  "httpHeaders": {}, "httpStatusCode": 400, "referenceId": node["referenceId"]})
                continue
            _, sobject, field, value = node["url"].rsplit("/", 3)
            try:
                self.check(sobject, (), status=404)
                if EXTERNAL_IDS.get(sobject) != field:
                    raise SalesforceRefusal(404, "NOT_FOUND", f"Provided external ID field does not exist or is "
                                                              f"not accessible: {field}")
                self.check(sobject, node["body"])
                self.check_values(sobject, node["body"])
                self.check_parents(sobject, node["body"])
            except SalesforceRefusal as exc:
                if exc.code == "INVALID_TYPE":
                    exc = SalesforceRefusal(404, "NOT_FOUND", "The requested resource does not exist")
                failed = True
                responses.append({"body": [exc.node_error()], "httpHeaders": {},
                                  "httpStatusCode": exc.status, "referenceId": node["referenceId"]})
                continue
            staged.append((sobject, field, unquote(value), node))
        if failed:
            return {"graphId": g["graphId"], "graphResponse": {"compositeResponse": responses},
                    "isSuccessful": False}
        for sobject, field, value, node in staged:
            existing = self.index.get((sobject, field, value))
            status = 200 if existing else 201
            if existing is None:
                existing = {"Id": self.new_id(sobject), field: value}
                self.records[sobject].append(existing)
                self.index[(sobject, field, value)] = existing
            existing.update(node["body"])
            responses.append({"body": {"id": existing["Id"], "created": status == 201}, "httpHeaders": {},
                              "httpStatusCode": status, "referenceId": node["referenceId"]})
        return {"graphId": g["graphId"], "graphResponse": {"compositeResponse": responses}, "isSuccessful": True}

    def check_parents(self, sobject: str, body: dict) -> None:
        """A parent named by external id (``affectlayer__Engagement__r: {affectlayer__Chorus_Id__c: k}``)
        must be named by that object's external id field."""
        for name, value in body.items():
            if not isinstance(value, dict):
                continue
            spec = next((f for f in self.specs.get(sobject, {}).values() if f.is_reference and f.relationship == name),
                        None)
            target = spec.reference_to if spec else None
            for key in value:
                if target is None or EXTERNAL_IDS.get(target) != key:
                    raise SalesforceRefusal(400, "INVALID_FIELD", f"Foreign key external ID: {key} not found for "
                                                                  f"field {name} in entity {sobject}", [name])

    # -- Bulk API 2.0 ingest (insert) ----------------------------------------------------------

    def ingest(self, method: str, parts: list[str], body, headers: dict) -> Response:
        """``POST jobs/ingest``, ``PUT …/{id}/batches`` (CSV), ``PATCH …/{id}``
        (UploadComplete runs the job; the first status poll still says InProgress),
        ``GET …/{id}``, ``GET …/{id}/successfulResults/`` and ``…/failedResults/``
        (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0.htm)."""
        if method == "POST" and not parts:
            if body["object"] not in self.schema:
                raise SalesforceRefusal(400, "INVALIDENTITY", f"Entity '{body['object']}' is not supported by the "
                                                              "Bulk API.")
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
        unknown = [c for c in job["columns"] if c not in self.schema[job["object"]]]
        if unknown:  # the whole job fails: "InvalidBatch : Field name not found : X"
            job.update(state="Failed", errorMessage=f"InvalidBatch : Field name not found : {unknown[0]}")
            return
        saved_late = job["pending"] = [] if self.job_runs_for else None
        for row in reader:
            error = next((self.bulk_errors[v] for v in row.values() if v in self.bulk_errors), None)
            try:
                self.check_values(job["object"], {k: v for k, v in row.items() if v != ""})
            except SalesforceRefusal as exc:  # a Bulk row's sf__Error: CODE:message:fields --
                error = error or f"{exc.code}:{exc.message}:{','.join(exc.fields)} --"
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
        """``SELECT Id, F… FROM X WHERE F IN (…)`` — the look-ups Chorus makes. An
        unknown object or field is refused (INVALID_TYPE, INVALID_FIELD)."""
        m = re.match(r"SELECT Id, (\w+)(?:, \w+)* FROM (\w+) WHERE (\w+) IN \((.*?)\)", soql)
        if not m:
            return {"totalSize": 0, "done": True, "records": []}
        sobject, field = m.group(2), m.group(3)
        fields = ["Id"] + [f.strip() for f in soql.split(" FROM ")[0][7:].split(",")][1:]
        self.check(sobject, set(fields) | {field})
        values = set(re.findall(r"'((?:[^'\\]|\\.)*)'", m.group(4)))
        values = {v.replace("\\'", "'").replace("\\\\", "\\") for v in values}
        rows = [r for r in self.records[sobject] if r.get(field) in values]
        if sobject == "Event":
            lo, hi = re.findall(r"StartDateTime [<>]= (\S+)", soql)
            rows = [r for r in rows if lo[:19] <= r["StartDateTime"][:19] <= hi[:19]]
        records = [{"attributes": {"type": sobject}, **{f: r.get(f) for f in fields}} for r in rows]
        return {"totalSize": len(records), "done": True, "records": records}
