"""A strict stand-in for the Dataverse Web API (v9.2): ``$batch`` with change sets of
``PATCH entityset(id)`` upserts and GET look-ups, and the ``$metadata`` document it
checks every write against.

It refuses what Dataverse refuses: an entity set it does not have, a column the
table does not have, an ``@odata.bind`` whose name is not one of the table's
navigation properties (or binds to the wrong table), and it answers 429 with
``Retry-After`` and a service protection error code. Its model is the Dataverse
tables Chorus writes (Web API EntityType reference) plus the Chorus solution's
tables, read from ``crm.providers.dynamics.solution`` — the one place they are
defined — when the solution is installed.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

from werkzeug import Response

from testutils.crm_fakes.base import RETRY_AFTER_SECONDS, FakeCrm

API = "/api/data/v9.2/"
NS = "Microsoft.Dynamics.CRM"


def _activity(name: str, columns: dict[str, str], *regarding: str) -> dict:
    """An activity table: ``regardingobjectid`` is polymorphic, so each target has its
    own single-valued navigation property, suffixed with the activity table
    (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/task,
    "Single-valued navigation properties": regardingobjectid_account_task, …)."""
    return {"set": f"{name}s", "key": "activityid",
            "columns": {"activityid": "Edm.Guid", "subject": "Edm.String", "description": "Edm.String",
                        "statecode": "Edm.Int32", "statuscode": "Edm.Int32", "scheduledend": "Edm.DateTimeOffset",
                        **columns},
            "navigation": {f"regardingobjectid_{target}_{name}": target for target in regarding}
            | {"ownerid": "systemuser"}}


# The Dataverse tables Chorus writes, with the columns and navigation properties it
# uses (Web API EntityType reference: …/webapi/reference/<table>).
TABLES: dict[str, dict] = {
    "account": {"set": "accounts", "key": "accountid",
                "columns": {"accountid": "Edm.Guid", "name": "Edm.String", "websiteurl": "Edm.String"},
                "navigation": {"ownerid": "systemuser"}},
    "contact": {"set": "contacts", "key": "contactid",
                "columns": {"contactid": "Edm.Guid", "firstname": "Edm.String", "lastname": "Edm.String",
                            "emailaddress1": "Edm.String", "jobtitle": "Edm.String"},
                "navigation": {"parentcustomerid_account": "account", "parentcustomerid_contact": "contact",
                               "ownerid": "systemuser"}},
    "opportunity": {"set": "opportunities", "key": "opportunityid",
                    "columns": {"opportunityid": "Edm.Guid", "name": "Edm.String"},
                    "navigation": {"parentaccountid": "account", "ownerid": "systemuser"}},
    "systemuser": {"set": "systemusers", "key": "systemuserid", "columns": {"systemuserid": "Edm.Guid"},
                   "navigation": {}},
    "task": _activity("task", {"actualstart": "Edm.DateTimeOffset", "actualend": "Edm.DateTimeOffset",
                               "actualdurationminutes": "Edm.Int32"}, "account", "contact", "opportunity"),
    "appointment": _activity("appointment", {"scheduledstart": "Edm.DateTimeOffset"},
                             "account", "contact", "opportunity"),
    # appointment_activity_parties (collection-valued) holds activityparty rows, deep-inserted.
    "activityparty": {"set": "activityparties", "key": "activitypartyid",
                      "columns": {"activitypartyid": "Edm.Guid", "participationtypemask": "Edm.Int32"},
                      "navigation": {"partyid_contact": "contact", "partyid_account": "account",
                                     "partyid_systemuser": "systemuser"}},
    # annotation: objectid is polymorphic too (…/webapi/reference/annotation).
    "annotation": {"set": "annotations", "key": "annotationid",
                   "columns": {"annotationid": "Edm.Guid", "subject": "Edm.String", "notetext": "Edm.String",
                               "filename": "Edm.String"},
                   "navigation": {"objectid_task": "task", "objectid_appointment": "appointment",
                                  "objectid_opportunity": "opportunity", "objectid_account": "account",
                                  "objectid_contact": "contact", "ownerid": "systemuser"}},
}
COLLECTIONS = {"appointment": {"appointment_activity_parties": "activityparty"}}
# Service protection limits (…/data-platform/api-limits, "Service protection API limit
# errors returned"): 429, Retry-After in seconds, and one of three codes.
TOO_MANY = {"code": "0x80072322", "message": "Number of requests exceeded the limit of 6000 over time window of "
                                             "300 seconds."}


class DataverseRefusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> str:
        return json.dumps({"error": {"code": self.code, "message": self.message}})


class FakeDataverse(FakeCrm):
    """``solution=False``: the Chorus solution is not imported in this environment.
    ``custom_columns``: {table: {column: Edm type}} the customer added (a choice
    column a rep answers)."""

    def __init__(self, *, solution: bool = True, custom_columns: dict[str, dict[str, str]] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.tables = {name: {**t, "columns": dict(t["columns"]), "navigation": dict(t["navigation"])}
                       for name, t in TABLES.items()}
        if solution:
            from crm.providers.dynamics import solution as chorus

            for t in chorus.TABLES:
                self.tables[t.logical_name] = {"set": t.entity_set, "key": t.primary_key,
                                               "columns": {t.primary_key: "Edm.Guid", **t.columns},
                                               "navigation": dict(t.lookups)}
            for name, columns in chorus.EXTENSIONS.items():
                self.tables[name]["columns"].update(columns)
        for name, columns in (custom_columns or {}).items():
            self.tables[name]["columns"].update(columns)
        self.by_set = {t["set"]: name for name, t in self.tables.items()}

    def too_many(self) -> Response:
        return Response(json.dumps({"error": TOO_MANY}), status=429, content_type="application/json",
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    # -- $metadata --------------------------------------------------------------------------------

    def metadata(self) -> str:
        """The CSDL document the rules below are checked against
        (…/webapi/web-api-service-documents: "CSDL $metadata document")."""
        types, sets = [], []
        for name, t in self.tables.items():
            props = "".join(f"<Property Name={quoteattr(c)} Type={quoteattr(ty)}/>" for c, ty in t["columns"].items())
            navs = "".join(f"<NavigationProperty Name={quoteattr(n)} Type={quoteattr(f'{NS}.{target}')}/>"
                           for n, target in t["navigation"].items())
            navs += "".join(f"<NavigationProperty Name={quoteattr(n)} Type={quoteattr(f'Collection({NS}.{target})')}/>"
                            for n, target in COLLECTIONS.get(name, {}).items())
            types.append(f'<EntityType Name="{name}"><Key><PropertyRef Name="{t["key"]}"/></Key>{props}{navs}'
                         "</EntityType>")
            sets.append(f'<EntitySet Name="{t["set"]}" EntityType="{NS}.{name}"/>')
        return ('<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" '
                'xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
                f'<Schema Namespace="{NS}" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
                + "".join(types) + '<EntityContainer Name="System">' + "".join(sets)
                + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")

    # -- the rules --------------------------------------------------------------------------------

    def table_of(self, entity_set: str) -> str:
        """An entity set the service has (404 0x8006088a "Resource not found for the
        segment" — troubleshoot/…/web-api-client-errors)."""
        if entity_set not in self.by_set:
            raise DataverseRefusal(404, "0x8006088a", f"Resource not found for the segment '{entity_set}'.")
        return self.by_set[entity_set]

    def check_row(self, table: str, payload: dict) -> None:
        """Columns the table has ("Could not find a property named 'x' on type
        'Microsoft.Dynamics.CRM.t'"); ``name@odata.bind`` only on a declared
        single-valued navigation property of the table ("An undeclared property 'x'
        which only has property annotations…" — create-entity-web-api, "Associate
        table rows on create"), bound to a row of its target table; deep inserts
        through a declared collection-valued one."""
        t = self.tables[table]
        for name, value in payload.items():
            if name.endswith("@odata.bind"):
                nav = name[: -len("@odata.bind")]
                if nav not in t["navigation"]:
                    raise DataverseRefusal(400, "0x80060888", (
                        f"An undeclared property '{nav}' which only has property annotations in the payload but no "
                        "property value was found in the payload. In OData, only declared navigation properties "
                        "and declared named streams can be represented as properties without values."))
                m = re.match(r"^/?(\w+)\(([^)]+)\)$", str(value))
                target = t["navigation"][nav]
                if not m or self.by_set.get(m.group(1)) != target:
                    raise DataverseRefusal(400, "0x80060888", f"The navigation property '{nav}' of "
                                                              f"'{NS}.{table}' binds to {NS}.{target}, not {value}.")
            elif name in COLLECTIONS.get(table, {}):
                for row in value:
                    self.check_row(COLLECTIONS[table][name], row)
            elif name not in t["columns"]:
                raise DataverseRefusal(400, "0x0", f"Could not find a property named '{name}' on type "
                                                   f"'{NS}.{table}'.")

    # -- dispatch ---------------------------------------------------------------------------------

    def dispatch(self, request, body):
        path = request.path.split(API, 1)[-1]
        if path == "$metadata":
            return Response(self.metadata(), status=200, content_type="application/xml")
        if path == "WhoAmI":  # the function connecting calls (…/webapi/reference/whoami)
            return self.json({"UserId": "6f0e0000-0000-0000-0000-000000000001", "BusinessUnitId": "bu-1",
                              "OrganizationId": "dyn-org-1"})
        if path != "$batch":
            try:
                return self.json(self.read(path, request.query_string.decode()), 200)
            except DataverseRefusal as exc:
                return Response(exc.body(), status=exc.status, content_type="application/json")
        boundary = re.search(r"boundary=(\S+)", request.headers["Content-Type"]).group(1)
        out_boundary = "batchresponse_fake"
        parts = []
        for n, part in enumerate(body.split("--" + boundary)[1:-1]):
            cs = re.search(r"boundary=(\S+)", part)
            if cs is None:  # a request outside any change set: a GET
                parts.append(f"--{out_boundary}\r\n" + self.batch_read(part))
                continue
            parts.append(f"--{out_boundary}\r\n" + self.changeset(n, part, cs.group(1)))
        text = "".join(parts) + f"--{out_boundary}--\r\n"
        return Response(text, status=200, content_type=f"multipart/mixed; boundary={out_boundary}")

    def changeset(self, n: int, part: str, cs: str) -> str:
        """A change set is a transaction: every operation is checked, then all are
        applied — or none, and the change set answers with its error alone
        (execute-batch-operations-using-web-api, "Change sets")."""
        ops = []
        try:
            for op in part.split("--" + cs)[1:-1]:
                m = re.search(r"^(PATCH|POST) (\S+) HTTP/1\.1", op, re.M)
                payload = json.loads(op.strip().rsplit("\r\n\r\n", 1)[-1])
                entity_set, rid = re.match(r".*/(\w+)\(([^)]+)\)$", m.group(2)).groups()
                table = self.table_of(entity_set)
                self.check_row(table, payload)
                ops.append((entity_set, rid, payload))
        except DataverseRefusal as exc:
            return ("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                    f"HTTP/1.1 {exc.status} Error\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n"
                    f"{exc.body()}\r\n")
        for entity_set, rid, payload in ops:
            rec = self.index.get((entity_set, rid))
            if rec is None:
                rec = self.index[(entity_set, rid)] = {"id": rid, **payload}
                self.records[entity_set].append(rec)
            else:
                rec.update(payload)
        inner = "\r\n".join(
            [f"--changesetresponse_{n}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
             f"Content-ID: {i}\r\n\r\nHTTP/1.1 204 No Content\r\nOData-EntityId: x/{e}({r})\r\n"
             for i, (e, r, _) in enumerate(ops, start=1)])
        return (f"Content-Type: multipart/mixed; boundary=changesetresponse_{n}\r\n\r\n"
                f"{inner}\r\n--changesetresponse_{n}--\r\n")

    def batch_read(self, part: str) -> str:
        m = re.search(r"^GET \S+?/api/data/v9\.2/(\S+) HTTP/1\.1", part, re.M)
        path, _, query = m.group(1).partition("?")
        try:
            status, body = 200, json.dumps(self.read(path, query))
        except DataverseRefusal as exc:
            status, body = exc.status, exc.body()
        return (f"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 {status} OK\r\n"
                f"Content-Type: application/json; odata.metadata=minimal\r\n\r\n{body}\r\n")

    def read(self, path: str, query: str) -> dict:
        """``GET set?$select=key&$filter=Microsoft.Dynamics.CRM.In(PropertyName='key',
        PropertyValues=[…])`` (query-function reference: In) — the look-ups Chorus makes."""
        entity_set = path.split("(", 1)[0]
        table = self.table_of(entity_set)
        query = unquote(query)
        m = re.search(r"In\(PropertyName='(\w+)',PropertyValues=\[(.*?)\]\)", query)
        if not m:
            return {"value": []}
        key, values = m.group(1), set(re.findall(r"'([^']*)'", m.group(2)))
        if key not in self.tables[table]["columns"]:
            raise DataverseRefusal(400, "0x0", f"Could not find a property named '{key}' on type '{NS}.{table}'.")
        return {"value": [{key: r["id"]} for r in self.records[entity_set] if r["id"] in values]}
