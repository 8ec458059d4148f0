"""A strict fake of the Gainsight NXT endpoints Chorus uses, on pytest-httpserver.

Each rule cites the Gainsight page it follows:

* Timeline APIs (support.gainsight.com/Gainsight_NXT/API_and_Developer_Docs/
  Timeline_API/Timeline_APIs): the Access Key travels in the ``accesskey`` header
  of every request ("Authorization"); a wrong or missing key is a 401. The Single
  Activity Save API is ``POST v1/ant/es/activity`` with ``records`` and ``lookups``
  ("Single Activity Save API"); required insert fields are ExternalId, Author,
  ContextName, TypeName ("Required Fields (INSERT)"); ContextName is one of Company,
  Relationship, CTA, SuccessPlan, Scorecard, ScorecardMeasure, Milestone; Author is
  resolved to a GsUser by the AuthorId lookup (``onNoMatch: ERROR`` refuses the
  record); ``ExternalId`` "must be unique … across all previously inserted records
  for this tenant", so a second insert of the same ExternalId is refused. The page
  gives no error body: ``{"result": false, "errorCode": …, "errorDesc": …}`` is the
  shape of Gainsight's other REST errors (Company API "Error codes"), the codes are
  this fake's own. Singular inserts are limited to 200 a minute ("Throttling
  Limits"): :meth:`GainsightFake.throttle` answers 429 with ``Retry-After``.
* Company API Documentation (…/Company_and_Relationship_API/Company_API_Documentation):
  the Read API is ``POST v1/data/objects/query/Company`` with ``select``, ``where``
  (``conditions`` of ``name``/``alias``/``value``/``operator``, ``expression``),
  ``limit`` (at most 5,000), ``offset``, ``orderBy``; unknown fields are refused
  (fields are Data Management's names: ``Gsid``, ``Name``, ``SfdcAccountId``…).

Unknown body keys and unknown activity fields are refused with a 400, as Gainsight
validates every field before writing. Faults: :meth:`fail_next` answers the next
call of a kind with a status (optionally after applying it: a lost answer).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

COMPANY_FIELDS = {"Gsid", "Name", "SfdcAccountId", "Industry", "Status", "Arr"}
QUERY_KEYS = {"select", "where", "limit", "offset", "orderBy"}
OPERATORS = {"EQ", "NE", "GT", "GTE", "LT", "LTE", "CONTAINS", "STARTS_WITH", "ENDS_WITH", "IN", "NOT_IN",
             "IS_NULL", "IS_NOT_NULL"}
CONTEXTS = {"Company", "Relationship", "CTA", "SuccessPlan", "Scorecard", "ScorecardMeasure", "Milestone"}
ACTIVITY_REQUIRED = {"ExternalId", "Author", "ContextName", "TypeName"}
ACTIVITY_FIELDS = ACTIVITY_REQUIRED | {"Subject", "Notes", "ActivityDate", "GsCompanyId", "companyName",
                                       "GsRelationshipId", "internalAttendees", "externalAttendees", "Duration"}
LOOKUP_KEYS = {"fields", "lookupField", "objectName", "multiMatchOption", "onNoMatch"}
TYPES = {"Update", "Meeting", "Call", "Email"}


@dataclass
class Fault:
    kind: str
    status: int
    headers: dict = field(default_factory=dict)
    apply: bool = False


class GainsightFake:
    def __init__(self, server, *, domain: str = "acme", access_key: str = "gs-key-0123456789abcdef"):
        self.server, self.domain, self.access_key = server, domain, access_key
        self.companies: list[dict] = []
        self.users: set[str] = set()
        self.activities: dict[str, dict] = {}  # ExternalId → stored record
        self.requests: list[dict] = []
        self.faults: list[Fault] = []
        server.expect_request(re.compile(r"^/.*$")).respond_with_handler(self.handle)

    @property
    def url_template(self) -> str:
        return self.server.url_for("/") + "{domain}"

    # -- set-up ---------------------------------------------------------------------------------

    def add_company(self, name: str, sfdc_account_id: str) -> str:
        gsid = "1P02" + uuid.uuid4().hex[:20].upper()
        self.companies.append({"Gsid": gsid, "Name": name, "SfdcAccountId": sfdc_account_id})
        return gsid

    def fail_next(self, kind: str, status: int, *, headers: dict | None = None, apply: bool = False) -> None:
        """``kind``: "query" or "activity"."""
        self.faults.append(Fault(kind, status, headers or {}, apply))

    def throttle(self, kind: str, retry_after: int = 30) -> None:
        self.fail_next(kind, 429, headers={"Retry-After": str(retry_after)})

    def calls(self, kind: str) -> list[dict]:
        return [r for r in self.requests if r["kind"] == kind]

    # -- the server -----------------------------------------------------------------------------

    @staticmethod
    def _json(status: int, body: dict, headers: dict | None = None) -> Response:
        return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

    def _error(self, status: int, code: str, desc: str) -> Response:
        return self._json(status, {"result": False, "errorCode": code, "errorDesc": desc,
                                   "requestId": uuid.uuid4().hex})

    def handle(self, request: Request) -> Response:
        prefix = f"/{self.domain}"
        path = request.path
        if not path.startswith(prefix + "/"):
            return self._json(404, {"message": "Unknown tenant"})
        path = path[len(prefix):]
        kind = {"/v1/data/objects/query/Company": "query", "/v1/ant/es/activity": "activity"}.get(path)
        if kind is None or request.method != "POST":
            return self._json(404, {"message": "Not found"})
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return self._error(400, "GS_FAKE_BAD_JSON", "The body is not JSON.")
        self.requests.append({"kind": kind, "headers": dict(request.headers), "body": body})
        # Timeline APIs > Authorization: the "accesskey" header on every request.
        if request.headers.get("accesskey") != self.access_key:
            return self._error(401, "GS_FAKE_UNAUTHORIZED", "Invalid access key.")
        fault = next((f for f in self.faults if f.kind == kind), None)
        if fault is not None:
            self.faults.remove(fault)
            if fault.apply:
                self._dispatch(kind, body)
            return self._json(fault.status, {"result": False, "errorDesc": "Fault"}, fault.headers)
        return self._dispatch(kind, body)

    def _dispatch(self, kind: str, body: dict) -> Response:
        return self._query(body) if kind == "query" else self._activity(body)

    def _query(self, body: dict) -> Response:
        # Company API > Read API: select / where / limit (≤ 5,000) / offset / orderBy.
        unknown = set(body) - QUERY_KEYS
        if unknown:
            return self._error(400, "GS_FAKE_UNKNOWN_KEY", f"Unknown keys: {sorted(unknown)}")
        select = body.get("select") or []
        if not select or set(select) - COMPANY_FIELDS:
            return self._error(400, "GS_FAKE_UNKNOWN_FIELD", f"Unknown fields: {sorted(set(select) - COMPANY_FIELDS)}")
        limit = body.get("limit", 100)
        if not isinstance(limit, int) or not 0 < limit <= 5000:
            return self._error(400, "GS_FAKE_LIMIT", "limit must be between 1 and 5000")
        rows = list(self.companies)
        where = body.get("where")
        if where:
            conditions = {c["alias"]: c for c in where.get("conditions", [])}
            for c in conditions.values():
                if c.get("name") not in COMPANY_FIELDS or c.get("operator") not in OPERATORS:
                    return self._error(400, "GS_FAKE_CONDITION", f"Bad condition {c}")
            if where.get("expression") not in conditions:  # this fake reads single-condition expressions only
                return self._error(400, "GS_FAKE_EXPRESSION", "Unsupported expression")
            c = conditions[where["expression"]]
            values = c["value"] if isinstance(c["value"], list) else [c["value"]]
            if c["operator"] == "IN":
                rows = [r for r in rows if r.get(c["name"]) in values]
            elif c["operator"] == "EQ":
                rows = [r for r in rows if r.get(c["name"]) == values[0]]
            else:
                return self._error(400, "GS_FAKE_OPERATOR", "This fake supports IN and EQ")
        offset = body.get("offset", 0)
        rows = rows[offset:offset + limit]
        return self._json(200, {"result": True, "data": {"records": [{k: r.get(k) for k in select} for r in rows]}})

    def _activity(self, body: dict) -> Response:
        # Timeline APIs > Single Activity Save API: {"records": [...], "lookups": {...}}.
        unknown = set(body) - {"records", "lookups"}
        if unknown or not isinstance(body.get("records"), list) or not body["records"]:
            return self._error(400, "GS_FAKE_BODY", "Expected records and lookups")
        lookups = body.get("lookups") or {}
        for name, lk in lookups.items():
            if set(lk) - LOOKUP_KEYS or lk.get("onNoMatch") not in ("ERROR", None):
                return self._error(400, "GS_FAKE_LOOKUP", f"Bad lookup {name}")
        saved = []
        for rec in body["records"]:
            unknown = set(rec) - ACTIVITY_FIELDS
            if unknown:
                return self._error(400, "GS_FAKE_UNKNOWN_FIELD", f"Unknown activity fields: {sorted(unknown)}")
            missing = [f for f in sorted(ACTIVITY_REQUIRED) if not rec.get(f)]
            if missing:
                return self._error(400, "GS_FAKE_REQUIRED", f"Missing required fields: {missing}")
            if rec["ContextName"] not in CONTEXTS or rec["TypeName"] not in TYPES:
                return self._error(400, "GS_FAKE_CONTEXT", "Unknown ContextName or TypeName")
            if "AuthorId" in lookups and rec["Author"] not in self.users:
                return self._error(400, "GS_FAKE_LOOKUP_NO_MATCH", f"No GsUser with Email {rec['Author']}")
            if rec.get("GsCompanyId") not in {c["Gsid"] for c in self.companies}:
                return self._error(400, "GS_FAKE_COMPANY", "GsCompanyId is not a Company")
            # "ExternalId … must be unique … across all previously inserted records".
            if rec["ExternalId"] in self.activities:
                return self._error(400, "GS_FAKE_DUPLICATE_EXTERNALID",
                                   f"Duplicate ExternalId {rec['ExternalId']}: an activity with it already exists")
            gsid = "1I00" + uuid.uuid4().hex[:20].upper()
            self.activities[rec["ExternalId"]] = {**rec, "Gsid": gsid}
            saved.append({"Gsid": gsid, "ExternalId": rec["ExternalId"]})
        return self._json(200, {"result": True, "data": {"records": saved}})
