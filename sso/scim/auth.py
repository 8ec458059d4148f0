"""Bearer-token authentication for the SCIM API.

django-scim2 authenticates nobody: it only asks whether an earlier middleware logged
a user in, and answers an empty 401. Here the token itself names the organisation;
every SCIM query is then scoped to ``request.scim_org``. A session cookie (an admin
signed in to the console) never grants SCIM access.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.http import HttpResponse

from sso.scim.provisioning import scim_provisioning_active
from sso.tokens import scim_token_authenticate

SCIM_CONTENT_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"

MISSING_TOKEN = "Send the organisation's SCIM token as 'Authorization: Bearer <token>'."
BAD_TOKEN = "The SCIM token is not valid or has been revoked."
NOT_ACTIVATED = (
    "SCIM provisioning is not activated for this organisation. Ask Chorus support to activate it."
)
TURNED_OFF = "SCIM provisioning is turned off for this organisation. An admin can turn it on under Settings > SSO."


def scim_error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    """A SCIM Error body (RFC 7644 §3.12) with the SCIM media type."""
    body = {"schemas": [ERROR_SCHEMA], "detail": detail, "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    response = HttpResponse(json.dumps(body), content_type=SCIM_CONTENT_TYPE, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="Chorus SCIM"'
    return response


def bearer_token(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def authenticate(request) -> HttpResponse | None:
    """Set ``request.scim_org`` / ``request.scim_token`` or return the error to send.

    The token is found by its SHA-256 through a unique index and the digest is then
    compared with ``hmac.compare_digest``, so response time says nothing about how
    much of a guess matched.
    """
    raw = bearer_token(request)
    if not raw:
        return scim_error(401, MISSING_TOKEN)
    token = scim_token_authenticate(raw=raw)
    if token is None or not hmac.compare_digest(token.token_hash, hashlib.sha256(raw.encode()).hexdigest()):
        return scim_error(401, BAD_TOKEN)
    if not token.org.scim_provisioning_allowed:
        return scim_error(403, NOT_ACTIVATED)
    if not scim_provisioning_active(org=token.org):
        return scim_error(403, TURNED_OFF)
    request.scim_org = token.org
    request.scim_token = token
    return None


class ScimBearerAuth:
    """django-scim2's ``AUTH_CHECK_MIDDLEWARE``: wraps a SCIM view's dispatch."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request, *args, **kwargs):
        return authenticate(request) or self.get_response(request, *args, **kwargs)
