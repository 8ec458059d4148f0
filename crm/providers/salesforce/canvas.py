"""The Salesforce package's canvas app: verifying and decoding the signed request
Salesforce POSTs to ``/integrations/salesforce/canvas/`` when a Lead, Account or
Opportunity page shows the Chorus view (seed: the Lightning component with
``force:canvasApp``), then finding the Chorus org and user it speaks for.

Salesforce Canvas Developer Guide:

* "Verifying and Decoding a Signed Request"
  (https://developer.salesforce.com/docs/atlas.en-us.platform_connect.meta/platform_connect/canvas_app_unsigning_code_example.htm):
  the form field ``signed_request`` is ``<signature>.<context>``; split on the first
  period; the signature is the Base64 of HMAC SHA-256 of the Base64 context keyed by
  the canvas app's consumer secret. Different → not initiated by Salesforce.
* "CanvasRequest"
  (https://developer.salesforce.com/docs/platform/canvas-framework/guide/canvas-request-object.html):
  ``algorithm`` ("HMACSHA256"), ``issuedAt``, ``userId``, ``client`` (``oauthToken``,
  ``instanceUrl``, ``targetOrigin``…) and ``context``.
* "Context", "Environment", "Record"
  (https://developer.salesforce.com/docs/platform/canvas-framework/guide/environment-object.html):
  ``context.user`` (userId, email, fullName), ``context.organization``
  (organizationId, name), ``context.environment`` (displayLocation, locationUrl,
  ``record`` {attributes {type}, Id} on a record page, ``parameters``).

Nothing here logs the signed request or the OAuth token in it; Chorus does not use
that token (it reads with the org's own Salesforce connection).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

from chorus.models import User
from integrations.models import Connection, ConnectionStatus

ALGORITHM = "HMACSHA256"
PROVIDER = "salesforce"
# Key prefixes of the objects the view knows (Salesforce's documented standard prefixes).
PREFIX_TYPES = {"001": "Account", "006": "Opportunity", "00Q": "Lead", "003": "Contact"}
SUPPORTED_TYPES = ("Lead", "Account", "Opportunity")
_ID18_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
MAX_SIGNED_REQUEST = 64 * 1024


class CanvasRefused(Exception):
    """A signed request Chorus will not serve. ``status`` is the HTTP answer,
    ``title`` and ``message`` are sentences for the person looking at the frame;
    ``instance_url`` is set once the request is proven to come from Salesforce (the
    refusal may then be shown inside Salesforce's frame)."""

    def __init__(self, status: int, title: str, message: str, *, instance_url: str = "", reason: str = ""):
        super().__init__(reason or title)
        self.status, self.title, self.message = status, title, message
        self.instance_url, self.reason = instance_url, reason or title


@dataclass
class CanvasRequest:
    """The parts of a verified CanvasRequest the view uses."""

    payload: dict = field(repr=False)
    sf_org_id: str
    sf_org_name: str
    sf_user_id: str
    sf_user_email: str
    sf_user_name: str
    instance_url: str
    record_id: str
    record_type: str


def _b64decode(value: str) -> bytes:
    value = value.strip()
    return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if ("-" in value or "_" in value) else None,
                            validate=True)


def sign(payload: dict, secret: str) -> str:
    """A signed request as Salesforce builds it (tests and support tooling)."""
    context = base64.b64encode(json.dumps(payload).encode()).decode()
    signature = base64.b64encode(hmac.new(secret.encode(), context.encode(), hashlib.sha256).digest()).decode()
    return f"{signature}.{context}"


def _issued_at_seconds(issued_at) -> float | None:
    """``issuedAt`` as epoch seconds when it plausibly is an epoch in seconds or
    milliseconds; None otherwise (then it says nothing about age)."""
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float | str):
        return None
    try:
        value = float(issued_at)
    except ValueError:
        return None
    if 1e9 <= value < 1e11:  # seconds: 2001 … 5138
        return value
    if 1e12 <= value < 1e14:  # milliseconds
        return value / 1000
    return None


def verify_and_decode(signed_request: str | None, *, secret: str, max_age: int, now: float | None = None) -> dict:
    """The CanvasRequest of a signed request, or ``CanvasRefused``.

    Order: no secret configured (503) → missing or garbled (400) → the algorithm the
    envelope names (403 unless HMACSHA256, as Salesforce's SDK reads it before picking
    the MAC) → the signature, compared in constant time (403) → age (403).

    ``issuedAt`` is documented by Salesforce as "For internal use only" (older guides:
    "the timestamp when the oauthToken was issued"), so the age check is a replay guard
    applied only when it plausibly is an epoch in seconds or milliseconds — not the only
    one: the org must also be connected and the Salesforce user a Chorus user, and the
    page shows only that org's recordings to that user.
    """
    if not secret:
        raise CanvasRefused(
            503, "The Chorus view is not set up",
            "Chorus cannot check requests from Salesforce yet: the Salesforce package's consumer secret is not "
            "configured on this Chorus server (SALESFORCE_CANVAS_SECRET). Contact Chorus support.",
            reason="canvas secret unset")
    if not signed_request or len(signed_request) > MAX_SIGNED_REQUEST or "." not in signed_request:
        raise CanvasRefused(400, "Open this page from Salesforce",
                            "This page shows Chorus recordings inside Salesforce; it needs the signed request that "
                            "Salesforce sends. Open the Lead, Account or Opportunity in Salesforce.",
                            reason="missing or garbled signed request")
    encoded_sig, encoded_context = signed_request.split(".", 1)
    try:
        signature = _b64decode(encoded_sig)
        payload = json.loads(_b64decode(encoded_context))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CanvasRefused(400, "Open this page from Salesforce",
                            "The request from Salesforce could not be read. Reload the Salesforce page.",
                            reason="garbled signed request") from None
    if not isinstance(payload, dict):
        raise CanvasRefused(400, "Open this page from Salesforce",
                            "The request from Salesforce could not be read. Reload the Salesforce page.",
                            reason="signed request is not an object")
    if payload.get("algorithm") != ALGORITHM:
        raise CanvasRefused(403, "Request refused",
                            "The request is not signed the way Salesforce signs canvas requests (HMACSHA256).",
                            reason="wrong algorithm")
    expected = hmac.new(secret.encode(), encoded_context.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise CanvasRefused(403, "Request refused",
                            "This request was not signed by Chorus' Salesforce package, so Chorus shows nothing.",
                            reason="forged signature")
    issued = _issued_at_seconds(payload.get("issuedAt"))
    now = time.time() if now is None else now
    if issued is not None and now - issued > max_age:
        raise CanvasRefused(403, "This page has expired",
                            "Reload the Salesforce page to see Chorus recordings again.",
                            instance_url=_instance_url(payload), reason="stale signed request")
    return payload


def _instance_url(payload: dict) -> str:
    client = payload.get("client") if isinstance(payload.get("client"), dict) else {}
    url = client.get("instanceUrl") or ""
    return url if isinstance(url, str) else ""


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _str(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse(payload: dict) -> CanvasRequest:
    """The org, the user and the record of a verified CanvasRequest."""
    context = _dict(payload.get("context"))
    user, organization = _dict(context.get("user")), _dict(context.get("organization"))
    environment = _dict(context.get("environment"))
    record, parameters = _dict(environment.get("record")), _dict(environment.get("parameters"))
    record_id = _str(record.get("Id")) or _str(parameters.get("recordId"))
    record_type = _str(_dict(record.get("attributes")).get("type")) if _str(record.get("Id")) else ""
    if record_id and not record_type:
        record_type = PREFIX_TYPES.get(record_id[:3], "")
    return CanvasRequest(
        payload=payload,
        sf_org_id=_str(organization.get("organizationId")),
        sf_org_name=_str(organization.get("name")),
        sf_user_id=_str(user.get("userId")) or _str(payload.get("userId")),
        sf_user_email=_str(user.get("email")),
        sf_user_name=_str(user.get("fullName")) or _str(user.get("userName")),
        instance_url=_instance_url(payload),
        record_id=record_id,
        record_type=record_type,
    )


def id_variants(sf_id: str) -> list[str]:
    """The 15-character (case-sensitive) and 18-character forms of a Salesforce id, so
    an exact, indexed ``__in`` lookup finds a record stored either way. Other strings
    are returned as they are."""
    if len(sf_id) not in (15, 18) or not sf_id.isalnum():
        return [sf_id] if sf_id else []
    id15 = sf_id[:15]
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += _ID18_SUFFIX[bits]
    variants = [id15, id15 + suffix]
    return variants if sf_id in variants else [*variants, sf_id]


def connections_for(sf_org_id: str) -> list[Connection]:
    """The working Salesforce connections of that Salesforce org (``crm_org_id`` is
    the 18-character id from the identity URL; the 15-character prefix decides)."""
    if not sf_org_id:
        return []
    return list(Connection.objects.select_related("org")
                .filter(provider=PROVIDER, status=ConnectionStatus.OK, config__crm_org_id__in=id_variants(sf_org_id))
                .order_by("id"))


def chorus_user_for(org, canvas: CanvasRequest) -> User | None:
    """The active Chorus user of ``org`` the Salesforce user is: by the Salesforce
    user id recorded on the Chorus user (15-character prefix), else by email."""
    users = User.objects.select_related("org").filter(org=org, is_active=True)
    if canvas.sf_user_id:
        found = users.filter(external_ids__salesforce__in=id_variants(canvas.sf_user_id)).first()
        if found is not None:
            return found
    if canvas.sf_user_email:
        return users.filter(email__iexact=canvas.sf_user_email).order_by("id").first()
    return None


def resolve(canvas: CanvasRequest) -> tuple[Connection, User]:
    """The Chorus connection and user a verified request speaks for, or
    ``CanvasRefused`` (403) saying what to do."""
    connections = connections_for(canvas.sf_org_id)
    if not connections:
        raise CanvasRefused(
            403, "This Salesforce org is not connected to Chorus",
            f"{canvas.sf_org_name or 'This Salesforce org'} ({canvas.sf_org_id or 'no org id'}) has no working "
            f"Chorus connection. A Chorus admin connects it under Settings > Integrations > Salesforce.",
            instance_url=canvas.instance_url, reason="org not connected")
    matches = [(c, u) for c in connections if (u := chorus_user_for(c.org, canvas)) is not None]
    if len({c.org_id for c, _ in matches}) > 1:
        raise CanvasRefused(
            403, "More than one Chorus organization uses this Salesforce org",
            "Chorus cannot tell which of them to show. Contact Chorus support.",
            instance_url=canvas.instance_url, reason="ambiguous org")
    if not matches:
        who = canvas.sf_user_name or canvas.sf_user_id or "This Salesforce user"
        email = f" ({canvas.sf_user_email})" if canvas.sf_user_email else ""
        raise CanvasRefused(
            403, "No Chorus user for you",
            f"{who}{email} is not an active Chorus user of {connections[0].org.name}. Ask your Chorus admin to add "
            f"you with the email you use in Salesforce, then reload this page.",
            instance_url=canvas.instance_url, reason="unknown user")
    return matches[0]
