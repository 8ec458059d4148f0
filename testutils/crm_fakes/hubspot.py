"""A strict stand-in for HubSpot's CRM API: v3 objects batch create/read/update/
upsert with inline associations, v4 association batches, the properties API and the
custom object schemas API.

It refuses what HubSpot refuses: a property the object does not have (400
``PROPERTY_DOESNT_EXIST``), an object type the portal does not have (400 "Unable to
infer object type from: …"), a custom object schema on a portal without custom
objects or without the scope, a batch read by a property that is not unique, an
association type that does not exist. Each rule cites the page it follows.
"""

from __future__ import annotations

import json
import re
import uuid

from werkzeug import Response

from testutils.crm_fakes.base import RETRY_AFTER_SECONDS, FakeCrm

PORTAL = 123


def _prop(name: str, *, unique: bool = False, type_: str = "string", field_type: str = "text",
          group: str = "", hubspot: bool = True) -> dict:
    return {"name": name, "label": name.replace("_", " ").title(), "type": type_, "fieldType": field_type,
            "groupName": group, "hasUniqueValue": unique, "hubspotDefined": hubspot, "archived": False,
            "calculated": False, "externalOptions": False, "formField": False, "options": [],
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}


# The default properties Chorus reads or writes, per object (developers.hubspot.com
# /docs/api/crm/properties: "Default properties"; tasks: /docs/api/crm/tasks; notes:
# /docs/api/crm/notes). ``email`` is a contact's unique identifier (batch read by
# ``idProperty=email``: /docs/api/crm/contacts, "Retrieve contacts by … email").
STANDARD = {
    "contacts": ("0-1", [_prop("email", unique=True), "firstname", "lastname", "jobtitle", "hubspot_owner_id",
                         "associatedcompanyid", "lifecyclestage", "lastmodifieddate"]),
    "companies": ("0-2", ["name", "domain", "website", "hubspot_owner_id", "hs_lastmodifieddate"]),
    "deals": ("0-3", ["dealname", "dealstage", "amount", "closedate", "hs_is_closed", "hs_is_closed_won",
                      "hubspot_owner_id", "hs_lastmodifieddate"]),
    "tasks": ("0-27", ["hs_task_subject", "hs_task_body", "hs_timestamp", "hs_task_status", "hs_task_type",
                       "hubspot_owner_id", "hs_lastmodifieddate"]),
    "notes": ("0-46", ["hs_note_body", "hs_timestamp", "hubspot_owner_id", "hs_lastmodifieddate"]),
}
GROUPS = {"contacts": "contactinformation", "companies": "companyinformation", "deals": "dealinformation",
          "tasks": "taskinformation", "notes": "noteinformation"}
# HubSpot-defined association type ids, by (from, to)
# (developers.hubspot.com/docs/api/crm/associations/associations-v4, "Association type id values").
HUBSPOT_DEFINED = {("tasks", "contacts"): 204, ("tasks", "companies"): 192, ("tasks", "deals"): 216,
                   ("notes", "contacts"): 202, ("notes", "companies"): 190, ("notes", "deals"): 214,
                   ("contacts", "companies"): 279}
# Writing a property needs the schema scope of its object (crm.schemas.<object>.write;
# activities such as tasks and notes come with the contacts one); custom object
# schemas need crm.schemas.custom.write (developers.hubspot.com/docs/api/crm/properties,
# /docs/api/crm/crm-custom-objects: "Scope requirements").
SCHEMA_SCOPE = {"contacts": "crm.schemas.contacts.write", "tasks": "crm.schemas.contacts.write",
                "notes": "crm.schemas.contacts.write", "companies": "crm.schemas.companies.write",
                "deals": "crm.schemas.deals.write"}


def error(message: str, category: str, status: int, **extra) -> Response:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}
    return Response(json.dumps(body), status=status, content_type="application/json")


class HubSpotRefusal(Exception):
    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


class FakeHubSpot(FakeCrm):
    """``custom_objects=False``: a portal without custom objects (they need an
    Enterprise subscription: /docs/api/crm/crm-custom-objects). ``scopes``: what the
    token was granted (None: everything)."""

    def __init__(self, *, custom_objects: bool = True, scopes: set[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.custom_objects_allowed = custom_objects
        self.scopes = scopes
        self.properties: dict[str, dict[str, dict]] = {}
        self.groups: dict[str, set[str]] = {}
        self.type_ids: dict[str, str] = {}  # canonical name → objectTypeId
        self.schemas: dict[str, dict] = {}  # custom object name → schema
        self.association_types: dict[tuple[str, str], set[int]] = {}
        for name, (type_id, props) in STANDARD.items():
            self.type_ids[name] = type_id
            self.properties[name] = {p["name"]: p for p in
                                     (x if isinstance(x, dict) else _prop(x) for x in props + ["hs_object_id"])}
            self.groups[name] = {GROUPS[name]}
        for pair, type_id in HUBSPOT_DEFINED.items():
            self.association_types.setdefault(pair, set()).add(type_id)

    def set_up(self) -> dict:
        """What connecting does (``crm.providers.hubspot.schema``), done directly: the
        Chorus properties and custom objects exist. Returns the connection config a
        real set-up leaves (the same ids every time)."""
        from django.utils import timezone

        from crm.providers.hubspot.schema import (
            ENGAGEMENT,
            GROUP,
            MOMENT,
            MOMENT_TO_ENGAGEMENT,
            PROPERTIES,
            SCHEMA_VERSION,
            SCHEMAS,
        )

        for object_type, props in PROPERTIES.items():
            self.groups[object_type].add(GROUP["name"])
            for p in props:
                self.properties[object_type][p["name"]] = _prop(p["name"], unique=p["hasUniqueValue"],
                                                                group=GROUP["name"], hubspot=False)
        for schema in SCHEMAS:
            self.create_schema(schema)
        link = self.create_association(MOMENT, ENGAGEMENT, MOMENT_TO_ENGAGEMENT)
        self.schemas[MOMENT]["associations"].append(link)
        return {"push_schema": SCHEMA_VERSION, "push_setup_problems": {}, "push_setup_at": timezone.now().isoformat(),
                "custom_objects": {"engagement": self.type_ids[ENGAGEMENT], "moment": self.type_ids[MOMENT],
                                   "moment_to_engagement_type_id": int(link["id"])}}

    def too_many(self) -> Response:
        # developers.hubspot.com/docs/api/usage-details: "the 429 response will have
        # the following format … The message and policyName will indicate which
        # limit you hit (either daily or secondly)".
        response = error("You have reached your ten_secondly_rolling limit.", "RATE_LIMITS", 429,
                         errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING", requestId=str(uuid.uuid4()))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    # -- object types ---------------------------------------------------------------------------

    def resolve(self, object_type: str) -> str:
        """A path's object type as its canonical name. Standard objects go by name or
        id; a custom object by its objectTypeId ("2-…") or fully qualified name
        ("p<portal>_<name>") — never its bare name, which HubSpot cannot tell from a
        standard object's (/docs/api/crm/crm-custom-objects: "use the objectTypeId or
        fullyQualifiedName")."""
        if object_type in STANDARD:
            return object_type
        for name, type_id in self.type_ids.items():
            if object_type == type_id or (name in self.schemas and object_type == f"p{PORTAL}_{name}"):
                return name
        raise HubSpotRefusal(error(f"Unable to infer object type from: {object_type}", "VALIDATION_ERROR", 400))

    def need_scope(self, scope: str) -> None:
        if self.scopes is not None and scope not in self.scopes:
            raise HubSpotRefusal(error(
                "This app hasn't been granted all required scopes to make this call.", "MISSING_SCOPES", 403,
                errors=[{"message": "One or more of the following scopes are required.",
                         "context": {"requiredGranularScopes": [scope]}}]))

    def check_properties(self, object_type: str, props: dict) -> None:
        """Every property written must exist on the object (400 VALIDATION_ERROR,
        PROPERTY_DOESNT_EXIST — /docs/api/crm/properties; the error shape HubSpot
        answers a batch write with)."""
        missing = [n for n in props if n not in self.properties[object_type]]
        if missing:
            results = [{"isValid": False, "message": f'Property "{n}" does not exist', "error": "PROPERTY_DOESNT_EXIST",
                        "name": n, "localizedErrorMessage": f'Property "{n}" does not exist'} for n in missing]
            raise HubSpotRefusal(error(f"Property values were not valid: {json.dumps(results)}", "VALIDATION_ERROR",
                                       400))

    def check_associations(self, object_type: str, associations: list[dict]) -> None:
        for a in associations:
            for t in a.get("types", []):
                known = {i for (frm, _), ids in self.association_types.items() if frm == object_type for i in ids}
                if t.get("associationTypeId") not in known:
                    raise HubSpotRefusal(error(f"{t.get('associationTypeId')} is not a valid association type id for "
                                               f"{object_type}", "VALIDATION_ERROR", 400))

    # -- dispatch ---------------------------------------------------------------------------------

    def dispatch(self, request, body):
        headers = {"X-HubSpot-RateLimit-Daily": str(self.limit),
                   "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.limit - self.used)),
                   "X-HubSpot-RateLimit-Remaining": "150", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
        if self.used > self.limit:
            return error("You have reached your daily limit.", "RATE_LIMITS", 429, errorType="RATE_LIMIT",
                         policyName="DAILY")
        try:
            response = self.route(request, body)
        except HubSpotRefusal as exc:
            response = exc.response
        response.headers.update(headers)
        return response

    def route(self, request, body) -> Response:
        path, method = request.path, request.method
        if m := re.match(r"/crm/v3/objects/([^/]+)/batch/(create|read|update|upsert)$", path):
            return getattr(self, f"batch_{m.group(2)}")(self.resolve(m.group(1)), body)
        if m := re.match(r"/crm/v4/associations/([^/]+)/([^/]+)/batch/create$", path):
            return self.associate(self.resolve(m.group(1)), self.resolve(m.group(2)), body)
        if m := re.match(r"/crm/v3/properties/([^/]+)/groups$", path):
            return self.property_groups(self.resolve(m.group(1)), method, body)
        if m := re.match(r"/crm/v3/properties/([^/]+)$", path):
            return self.property_list(self.resolve(m.group(1)), method, body)
        if path == "/crm-object-schemas/v3/schemas" and method == "GET":
            return self.json({"results": list(self.schemas.values())})
        if path == "/crm-object-schemas/v3/schemas" and method == "POST":
            self.need_scope("crm.schemas.custom.write")
            if not self.custom_objects_allowed:
                # Custom objects need an Enterprise subscription.
                return error("This portal does not have access to custom objects.", "FORBIDDEN", 403)
            if body["name"] in self.schemas:
                return error(f"Object type {body['name']} already exists.", "OBJECT_ALREADY_EXISTS", 409)
            return self.json(self.create_schema(body), 201)
        if m := re.match(r"/crm-object-schemas/v3/schemas/([^/]+)/associations$", path):
            self.need_scope("crm.schemas.custom.write")
            link = self.create_association(self.resolve(body["fromObjectTypeId"]),
                                           self.resolve(body["toObjectTypeId"]), body.get("name", ""))
            self.schemas[self.resolve(m.group(1))]["associations"].append(link)
            return self.json(link, 201)
        return self.json({"status": "error", "message": "not found", "category": "OBJECT_NOT_FOUND"}, 404)

    # -- records ------------------------------------------------------------------------------------

    def unique(self, object_type: str) -> list[str]:
        return [n for n, p in self.properties[object_type].items() if p["hasUniqueValue"]]

    def batch_create(self, object_type: str, body: dict) -> Response:
        """/docs/api/crm/understanding-the-crm, "batch create": 100 inputs, each
        with its properties and inline v3 associations; a unique property's value
        already taken answers 409 CONFLICT."""
        inputs = body["inputs"]
        if len(inputs) > 100:
            return error("Too many inputs: 100 at most", "VALIDATION_ERROR", 400)
        for inp in inputs:
            self.check_properties(object_type, inp["properties"])
            self.check_associations(object_type, inp.get("associations") or [])
            for unique in self.unique(object_type):
                value = inp["properties"].get(unique)
                if value and (object_type, unique, value) in self.index:
                    return error(f"{unique} already exists", "CONFLICT", 409)
        out = []
        for inp in inputs:
            rec = {"id": str(next(self.ids)), "properties": dict(inp["properties"]),
                   "associations": inp.get("associations", [])}
            self.records[object_type].append(rec)
            for unique in self.unique(object_type):
                if rec["properties"].get(unique):
                    self.index[(object_type, unique, rec["properties"][unique])] = rec
            out.append(self._public(rec))
        return self.json({"status": "COMPLETE", "results": out}, 201)

    def id_property(self, object_type: str, prop: str) -> None:
        """Reading or upserting by ``idProperty`` takes a property with unique values
        (/docs/api/crm/objects: "idProperty … a custom unique identifier property")."""
        if prop != "hs_object_id" and prop not in self.unique(object_type):
            self.check_properties(object_type, {prop: ""})
            raise HubSpotRefusal(error(f"{prop} is not a unique identifier property of {object_type}",
                                       "VALIDATION_ERROR", 400))

    def batch_read(self, object_type: str, body: dict) -> Response:
        prop = body.get("idProperty", "hs_object_id")
        self.id_property(object_type, prop)
        found = [self.index.get((object_type, prop, i["id"])) for i in body["inputs"]]
        return self.json({"status": "COMPLETE", "results": [self._public(r) for r in found if r is not None]})

    def batch_update(self, object_type: str, body: dict) -> Response:
        for inp in body["inputs"]:
            self.check_properties(object_type, inp["properties"])
        for inp in body["inputs"]:
            self.records[f"{object_type}.updates"].append(inp)
        return self.json({"status": "COMPLETE", "results": [
            {"id": i["id"], "properties": i["properties"]} for i in body["inputs"]]})

    def batch_upsert(self, object_type: str, body: dict) -> Response:
        for inp in body["inputs"]:
            self.id_property(object_type, inp["idProperty"])
            self.check_properties(object_type, inp["properties"])
        out = []
        for inp in body["inputs"]:
            prop = inp["idProperty"]
            rec = self.index.get((object_type, prop, inp["id"]))
            if rec is None:
                rec = {"id": str(next(self.ids)), "properties": {prop: inp["id"]}}
                self.records[object_type].append(rec)
                self.index[(object_type, prop, inp["id"])] = rec
            rec["properties"].update(inp["properties"])
            out.append({**self._public(rec), "new": False})
        return self.json({"status": "COMPLETE", "results": out})

    def associate(self, from_type: str, to_type: str, body: dict) -> Response:
        """v4 batch create: each input's types must be a defined association type
        between the two objects (/docs/api/crm/associations/associations-v4)."""
        known = self.association_types.get((from_type, to_type), set())
        for inp in body["inputs"]:
            for t in inp.get("types", []):
                if t.get("associationTypeId") not in known:
                    return error(f"{t.get('associationTypeId')} is not a valid association type between {from_type} "
                                 f"and {to_type}", "VALIDATION_ERROR", 400)
        for inp in body["inputs"]:
            link = (from_type, inp["from"]["id"], to_type, inp["to"]["id"])
            if ("association",) + link not in self.index:
                self.index[("association",) + link] = {}
                self.records["associations"].append(link)
        return self.json({"status": "COMPLETE", "results": []}, 201)

    def duplicates(self, kind: str, key: str) -> int:
        from collections import Counter

        c = Counter(r["properties"].get(key) for r in self.records[kind])
        return sum(n - 1 for n in c.values() if n > 1)

    @staticmethod
    def _public(rec: dict) -> dict:
        return {"id": rec["id"], "properties": rec["properties"], "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z", "archived": False}

    # -- properties and schemas --------------------------------------------------------------------

    def property_list(self, object_type: str, method: str, body) -> Response:
        """GET lists an object's properties; POST creates one (its group must exist;
        a name taken answers 409) — /docs/api/crm/properties."""
        if method == "GET":
            return self.json({"results": list(self.properties[object_type].values())})
        self.need_scope(SCHEMA_SCOPE.get(object_type, "crm.schemas.custom.write"))
        if body["name"] in self.properties[object_type]:
            return error(f"Property named '{body['name']}' already exists.", "OBJECT_ALREADY_EXISTS", 409)
        if body.get("groupName") not in self.groups[object_type]:
            return error(f"Property group {body.get('groupName')} does not exist.", "VALIDATION_ERROR", 400)
        prop = _prop(body["name"], unique=bool(body.get("hasUniqueValue")), type_=body.get("type", "string"),
                     field_type=body.get("fieldType", "text"), group=body["groupName"], hubspot=False)
        self.properties[object_type][body["name"]] = prop
        return self.json(prop, 201)

    def property_groups(self, object_type: str, method: str, body) -> Response:
        if method == "GET":
            return self.json({"results": [{"name": g, "label": g, "displayOrder": -1, "archived": False}
                                          for g in sorted(self.groups[object_type])]})
        self.need_scope(SCHEMA_SCOPE.get(object_type, "crm.schemas.custom.write"))
        if body["name"] in self.groups[object_type]:
            return error(f"Group named '{body['name']}' already exists.", "OBJECT_ALREADY_EXISTS", 409)
        self.groups[object_type].add(body["name"])
        return self.json({"name": body["name"], "label": body.get("label", ""), "displayOrder": -1,
                          "archived": False}, 201)

    def create_schema(self, body: dict) -> dict:
        name = body["name"]
        type_id = f"2-{1000 + len(self.schemas) + 1}"
        self.type_ids[name] = type_id
        self.properties[name] = {"hs_object_id": _prop("hs_object_id")}
        for p in body.get("properties", []):
            self.properties[name][p["name"]] = _prop(p["name"], unique=bool(p.get("hasUniqueValue")),
                                                     type_=p.get("type", "string"),
                                                     field_type=p.get("fieldType", "text"), hubspot=False)
        self.groups[name] = {f"{name}_information"}
        schema = {"id": type_id[2:], "objectTypeId": type_id, "fullyQualifiedName": f"p{PORTAL}_{name}", "name": name,
                  "labels": body.get("labels", {}), "primaryDisplayProperty": body.get("primaryDisplayProperty"),
                  "requiredProperties": body.get("requiredProperties", []),
                  "properties": list(self.properties[name].values()), "associations": [],
                  "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z", "archived": False}
        for other in body.get("associatedObjects", []):
            target = {"CONTACT": "contacts", "COMPANY": "companies", "DEAL": "deals"}.get(other, other)
            schema["associations"].append(self.create_association(name, target, f"{name}_to_{target}"))
        self.schemas[name] = schema
        return schema

    def create_association(self, from_type: str, to_type: str, label: str) -> dict:
        type_id = 100 + sum(len(ids) for ids in self.association_types.values())
        self.association_types.setdefault((from_type, to_type), set()).add(type_id)
        self.association_types.setdefault((to_type, from_type), set()).add(type_id + 1)
        return {"id": str(type_id), "fromObjectTypeId": self.type_ids[from_type],
                "toObjectTypeId": self.type_ids[to_type], "name": label, "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z"}
