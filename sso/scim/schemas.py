"""The discovery documents: ServiceProviderConfig, Schemas and ResourceTypes.

They describe exactly what the adapters in ``sso.scim.adapters`` keep, because discovery
clients (scim2-tester, Entra's schema editor) generate requests from them. The User
schema carries Chorus's custom attributes in the core namespace, as the seed's Okta
profile does (External namespace ``urn:ietf:params:scim:schemas:core:2.0:User``), with
the organisation's own roles as ``chorus_role`` canonical values.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from django.urls import reverse

from chorus.models import LicenseType, Role
from sso.scim.adapters import DEFAULT_LICENSE, DEFAULT_ROLE, base_location
from sso.scim.filters import CORE_GROUP, CORE_USER, ENTERPRISE_USER

SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SPC_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MAX_RESULTS = 200


def _attr(name: str, type_: str = "string", *, multi: bool = False, required: bool = False,
          mutability: str = "readWrite", returned: str = "default", uniqueness: str = "none",
          case_exact: bool = False, sub: list[dict] | None = None, canonical: list[str] | None = None,
          reference_types: list[str] | None = None, description: str = "") -> dict[str, Any]:
    a: dict[str, Any] = {
        "name": name, "type": type_, "multiValued": multi, "description": description or name,
        "required": required, "mutability": mutability, "returned": returned,
    }
    if type_ in ("string", "reference"):
        a["caseExact"] = case_exact
        a["uniqueness"] = uniqueness
    if sub:
        a["subAttributes"] = sub
    if canonical:
        a["canonicalValues"] = canonical
    if reference_types:
        a["referenceTypes"] = reference_types
    return a


def _location(name: str, pk: str | None = None) -> str:
    kwargs = {"uuid": pk} if pk else {}
    return urljoin(base_location(), reverse(name, kwargs=kwargs))


def user_schema(org) -> dict[str, Any]:
    roles = list(Role.objects.for_org(org).order_by("-is_builtin", "name").values_list("name", flat=True))
    return {
        "id": CORE_USER, "name": "User", "description": "A Chorus user",
        "attributes": [
            _attr("userName", required=True, uniqueness="server",
                  description="Unique in the organisation, case-insensitive; usually the email."),
            _attr("name", "complex", sub=[_attr("givenName"), _attr("familyName")]),
            _attr("displayName", mutability="readOnly"),
            _attr("title"),
            _attr("active", "boolean", required=True,
                  description="False deactivates: the user keeps their data and cannot sign in. "
                  "Defaults to true when omitted."),
            # Chorus keeps one email, the sign-in address, so it is required and there is
            # no "primary" to choose (a primary flag sent by an IdP is read, not stored).
            _attr("emails", "complex", multi=True, required=True, sub=[
                _attr("value", required=True), _attr("type", canonical=["work"]),
            ]),
            _attr("groups", "complex", multi=True, mutability="readOnly", sub=[
                _attr("value", mutability="readOnly"),
                _attr("$ref", "reference", mutability="readOnly", reference_types=["Group"]),
                _attr("display", mutability="readOnly"),
            ]),
            # Optional, with defaults (sso.scim.adapters.DEFAULT_ROLE / DEFAULT_LICENSE):
            # the seed's Okta profile sends them, but its Azure steps say custom
            # attributes are "not working natively" and its JumpCloud steps map none.
            _attr("chorus_role", canonical=roles,
                  description="Chorus Role. Must already exist in Chorus (built-in or custom). Optional: "
                  f"a new user sent without it, or whose role is removed, gets \"{DEFAULT_ROLE}\"; an update "
                  "that leaves it out keeps the current role."),
            _attr("chorus_license_type", canonical=list(LicenseType.values),
                  description="Chorus License Type: recorder or listener. Optional: a new user sent without it, "
                  f"or whose licence is removed, gets \"{DEFAULT_LICENSE}\"; an update that leaves it out "
                  "keeps the current licence."),
            _attr("manager_email",
                  description="The manager's email. Teams follow managers; a manager provisioned "
                  "later is linked when they arrive."),
        ],
    }


def enterprise_schema() -> dict[str, Any]:
    return {
        "id": ENTERPRISE_USER, "name": "EnterpriseUser", "description": "Enterprise User",
        "attributes": [
            _attr("manager", "complex", sub=[
                _attr("value", description="The manager's id"),
                _attr("$ref", "reference", reference_types=["User"]),
            ]),
        ],
    }


def group_schema() -> dict[str, Any]:
    return {
        "id": CORE_GROUP, "name": "Group", "description": "A Chorus team",
        "attributes": [
            _attr("displayName", required=True, uniqueness="server"),
            _attr("members", "complex", multi=True, sub=[
                _attr("value", mutability="immutable"),
                _attr("$ref", "reference", mutability="immutable", reference_types=["User"]),
                _attr("type", mutability="immutable", canonical=["User"]),
            ]),
        ],
    }


def schemas(org) -> list[dict[str, Any]]:
    docs = [user_schema(org), enterprise_schema(), group_schema()]
    for doc in docs:
        doc["schemas"] = [SCHEMA_URN]
        doc["meta"] = {"resourceType": "Schema", "location": _location("scim:schemas", doc["id"])}
    return docs


def resource_types() -> list[dict[str, Any]]:
    """Endpoints are relative to the base URL (``/Users``): clients join them to the
    base, and django-scim2's absolute paths would be doubled."""
    docs = [
        {"id": "User", "name": "User", "endpoint": "/Users", "description": "Chorus users",
         "schema": CORE_USER, "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": False}]},
        {"id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Chorus teams",
         "schema": CORE_GROUP},
    ]
    for doc in docs:
        doc["schemas"] = [RESOURCE_TYPE_URN]
        doc["meta"] = {"resourceType": "ResourceType", "location": _location("scim:resource-types", doc["id"])}
    return docs


def service_provider_config() -> dict[str, Any]:
    return {
        "schemas": [SPC_URN],
        "documentationUri": "https://chorus.ai/",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": True,
            "description": "The organisation's SCIM token, generated under Settings > SSO, "
            "sent as 'Authorization: Bearer <token>'.",
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": _location("scim:service-provider-config")},
    }


def list_response(resources: list[dict], *, total: int | None = None, start: int = 1) -> dict[str, Any]:
    return {
        "schemas": [LIST_URN],
        "totalResults": len(resources) if total is None else total,
        "itemsPerPage": len(resources),
        "startIndex": start,
        "Resources": resources,
    }
