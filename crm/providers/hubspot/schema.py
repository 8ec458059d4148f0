"""Everything Chorus writes to HubSpot that HubSpot does not have by itself, described
once, and the setup that creates it.

HubSpot refuses a write to a property that does not exist (400
``PROPERTY_DOESNT_EXIST``) and an object type it does not know (400 "Unable to infer
object type from: …"), so before the first push — when the admin connects, and again
lazily if something has gone missing — Chorus creates:

* a ``chorus`` property group and, in it, ``chorus_id`` (a unique value: the key a
  retried create is read back by, ``idProperty=chorus_id``) on tasks, notes and
  companies, and ``chorus_trackers`` on deals and companies
  (``POST /crm/v3/properties/{objectType}``, scopes ``crm.schemas.<object>.write``;
  https://developers.hubspot.com/docs/api/crm/properties);
* the Chorus Engagement and Moment custom objects and the Moment → Engagement
  association (``POST /crm-object-schemas/v3/schemas``, scope
  ``crm.schemas.custom.write``, Enterprise portals only;
  https://developers.hubspot.com/docs/api/crm/crm-custom-objects). Records of a custom
  object are addressed by its ``objectTypeId``, kept on the connection.

What could not be created is kept as a sentence per object (``push_setup_problems``)
that the push settles those deliveries with, once, instead of retrying them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

SCHEMA_VERSION = 1
RECHECK_PROBLEMS_AFTER = timedelta(hours=1)
GROUP = {"name": "chorus", "label": "Chorus", "displayOrder": -1}
ENGAGEMENT, MOMENT = "chorus_engagement", "chorus_moment"
CUSTOM = "custom_objects"


def _text(name: str, label: str, *, unique: bool = False, description: str = "") -> dict:
    return {"name": name, "label": label, "type": "string", "fieldType": "text", "groupName": GROUP["name"],
            "hasUniqueValue": unique, "description": description}


KEY = _text("chorus_id", "Chorus ID", unique=True, description="Set by Chorus: finds the record again on a retry.")
TRACKERS = _text("chorus_trackers", "Chorus trackers", description="The trackers Chorus heard on the latest call.")
PROPERTIES: dict[str, list[dict]] = {"tasks": [KEY], "notes": [KEY], "companies": [KEY, TRACKERS],
                                     "deals": [TRACKERS]}
SCHEMAS: list[dict] = [
    {"name": ENGAGEMENT, "labels": {"singular": "Chorus Engagement", "plural": "Chorus Engagements"},
     "primaryDisplayProperty": "chorus_title", "requiredProperties": ["chorus_id"],
     "searchableProperties": ["chorus_title"], "associatedObjects": ["CONTACT", "COMPANY", "DEAL"],
     "properties": [
         {"name": "chorus_id", "label": "Chorus ID", "type": "string", "fieldType": "text", "hasUniqueValue": True},
         {"name": "chorus_title", "label": "Title", "type": "string", "fieldType": "text"},
         {"name": "chorus_type", "label": "Type", "type": "string", "fieldType": "text"},
         {"name": "chorus_started_at", "label": "Started at", "type": "datetime", "fieldType": "date"},
         {"name": "chorus_recording_url", "label": "Recording", "type": "string", "fieldType": "text"},
         {"name": "chorus_duration_seconds", "label": "Duration (seconds)", "type": "number",
          "fieldType": "number"}]},
    {"name": MOMENT, "labels": {"singular": "Chorus Moment", "plural": "Chorus Moments"},
     "primaryDisplayProperty": "chorus_tracker", "requiredProperties": ["chorus_id"],
     "searchableProperties": ["chorus_tracker"], "associatedObjects": ["CONTACT"],
     "properties": [
         {"name": "chorus_id", "label": "Chorus ID", "type": "string", "fieldType": "text", "hasUniqueValue": True},
         {"name": "chorus_tracker", "label": "Tracker", "type": "string", "fieldType": "text"},
         {"name": "chorus_seconds", "label": "At (seconds)", "type": "number", "fieldType": "number"},
         {"name": "chorus_text", "label": "Text", "type": "string", "fieldType": "textarea"},
         {"name": "chorus_speaker", "label": "Speaker", "type": "string", "fieldType": "text"}]},
]
MOMENT_TO_ENGAGEMENT = "chorus_moment_to_engagement"

# What each push kind needs (the problem its deliveries are settled with).
NEEDS = {"task": "tasks", "transcript": "notes", "account": "companies", "trackers": "deals",
         "custom_object": CUSTOM}

# The sentences an admin reads.
RECONNECT = ("HubSpot did not give Chorus the {scope} permission, so Chorus can't create {what}. Reconnect HubSpot "
             "(Settings > Integrations > Hubspot Connect > Reconnect) and allow it, then use Push again.")
NO_CUSTOM_OBJECTS = ("This HubSpot account has no custom objects (they come with an Enterprise subscription), so "
                     "Chorus Engagements are not pushed. Turn off “Create a custom object” under CRM Objects Creation, "
                     "or upgrade HubSpot and use Push again.")
FAILED = "Chorus could not create {what} in HubSpot (HTTP {status}: {message}); it tries again within the hour."

# call(fn, *args) → (HTTP status, JSON body); raises only for what is not an answer
# (a rate limit, a dropped connection), in the caller's own terms.
Call = Callable[..., tuple[int, dict]]


def _problem(what: str, status: int, body: dict) -> str:
    if status == 403 and body.get("category") == "MISSING_SCOPES":
        scopes = [s for e in body.get("errors") or []
                  for s in (e.get("context") or {}).get("requiredGranularScopes", [])]
        return RECONNECT.format(scope=", ".join(scopes) or "schema", what=what)
    return FAILED.format(what=what, status=status, message=str(body.get("message") or "")[:200])


def push_schema_ensure(*, api: Any, call: Call) -> dict[str, Any]:
    """Create what Chorus writes and HubSpot lacks; return the connection config it
    leads to (custom object ids, the problems left). Reads first, so running it on a
    set-up portal costs five GETs and creates nothing."""
    problems: dict[str, str] = {}
    for object_type, wanted in PROPERTIES.items():
        status, body = call(api.crm.properties.core_api.get_all_with_http_info, object_type)
        if status >= 400:
            problems[object_type] = _problem(f"its {object_type} properties", status, body)
            continue
        have = {p.get("name") for p in body.get("results", [])}
        missing = [p for p in wanted if p["name"] not in have]
        if not missing:
            continue
        status, body = call(api.crm.properties.groups_api.create_with_http_info, object_type, GROUP)
        if status >= 400 and status != 409:  # 409: the group is there already
            problems[object_type] = _problem(f"its properties on {object_type}", status, body)
            continue
        for prop in missing:
            status, body = call(api.crm.properties.core_api.create_with_http_info, object_type, prop)
            if status >= 400 and status != 409:
                problems[object_type] = _problem(f"the {prop['name']} property on {object_type}", status, body)
                break
    custom = _custom_objects(api, call, problems)
    return {"push_schema": SCHEMA_VERSION, "custom_objects": custom, "push_setup_problems": problems,
            "push_setup_at": timezone.now().isoformat()}


def _custom_objects(api: Any, call: Call, problems: dict[str, str]) -> dict[str, Any]:
    status, body = call(api.crm.schemas.core_api.get_all_with_http_info)
    if status >= 400:
        problems[CUSTOM] = (NO_CUSTOM_OBJECTS if status == 403 and body.get("category") != "MISSING_SCOPES"
                            else _problem("its custom objects", status, body))
        return {}
    schemas = {s.get("name"): s for s in body.get("results", [])}
    for definition in SCHEMAS:
        if definition["name"] in schemas:
            continue
        status, body = call(api.crm.schemas.core_api.create_with_http_info, definition)
        if status >= 400:
            problems[CUSTOM] = (NO_CUSTOM_OBJECTS if status == 403 and body.get("category") != "MISSING_SCOPES"
                                else _problem("the Chorus custom objects", status, body))
            return {}
        schemas[definition["name"]] = body
    engagement, moment = schemas[ENGAGEMENT], schemas[MOMENT]
    link = next((a for a in moment.get("associations") or []
                 if a.get("toObjectTypeId") == engagement.get("objectTypeId")), None)
    if link is None:
        status, link = call(api.crm.schemas.core_api.create_association_with_http_info, moment["objectTypeId"], {
            "fromObjectTypeId": moment["objectTypeId"], "toObjectTypeId": engagement["objectTypeId"],
            "name": MOMENT_TO_ENGAGEMENT})
        if status >= 400:
            problems[CUSTOM] = _problem("the Moment to Engagement association", status, link)
            return {}
    return {"engagement": engagement["objectTypeId"], "moment": moment["objectTypeId"],
            "moment_to_engagement_type_id": int(link["id"])}


def push_schema_due(config: dict) -> bool:
    """Whether the push should set up before sending: never set up, set up by an
    older Chorus, or problems left over an hour ago (a scope granted since, an
    upgrade)."""
    if config.get("push_schema") != SCHEMA_VERSION:
        return True
    if config.get("push_setup_problems"):
        at = config.get("push_setup_at")
        return not at or datetime.fromisoformat(at) < timezone.now() - RECHECK_PROBLEMS_AFTER
    return False


def json_body(raw: Any) -> dict:
    try:
        body = json.loads(raw or b"{}")
    except (TypeError, ValueError):
        return {"message": str(raw)[:200]}
    return body if isinstance(body, dict) else {"results": body}
