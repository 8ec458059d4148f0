"""The one small protocol every CRM provider implements, and the pieces they share.

A provider is a stateless description (``crm/providers/<name>.py``); the org's
connection is an ``integrations.Connection`` row. Services hand a provider the row's
config and secrets; the provider talks to the CRM through its own client library and
returns plain dicts in one shape, so the sync and the field import never branch on
the CRM.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from integrations.http import HttpSession, parse_retry_after
from integrations.registry import IntegrationError

# The seed's supported field types, in the seed's order, and what the sync turns
# their values into.
SUPPORTED_TYPES = ("Currency", "Double", "Formula", "Percent", "Picklist", "Multipicklist",
                   "Boolean", "Number", "Date", "String")
NUMERIC_TYPES = {"Currency", "Double", "Percent", "Number"}

# Waits longer than this are not slept through inside a worker: the sync stops and
# the next scheduled run picks up from the cursor.
MAX_RETRY_WAIT_SECONDS = 120.0
MAX_RETRIES = 5


class CrmError(IntegrationError):
    """A failure an admin can act on; ``str(exc)`` is the sentence shown on the page."""


class ReconnectRequired(CrmError):
    """The CRM refused the stored sign-in (revoked or expired refresh token, 401
    after a refresh): only the admin clicking Enable again fixes it."""


class ConnectRefused(CrmError):
    """The connect flow was refused (denied consent, wrong edition, bad URL…)."""


class RateLimitedError(CrmError):
    """The CRM asked us to wait longer than a worker should sleep."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class FieldInfo:
    """One field of a CRM object, as the field import stores it."""

    object_name: str  # Task / Lead / Account / Opportunity
    api_name: str
    label: str
    field_type: str  # a SUPPORTED_TYPES name, or the CRM's own type name when unsupported
    supported: bool
    unsupported_reason: str = ""
    picklist_values: list[str] = field(default_factory=list)
    # Label → the value the CRM stores, where they differ (Dataverse option sets
    # store numbers): what Chorus writes when a rep picks a label.
    picklist_codes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Identity:
    """Who signed in at the CRM: the CRM org (tenant, portal) and the person."""

    crm_org_id: str
    email: str = ""
    name: str = ""
    crm_user_id: str = ""


@dataclass
class Grant:
    """The result of an OAuth code exchange: secrets to encrypt, config to keep."""

    secrets: dict[str, Any]
    config: dict[str, Any]
    identity: Identity


def unsupported_reason(type_label: str) -> str:
    return f"{type_label} fields can't be used as filters."


class CrmSession(Protocol):
    """An API session bound to one connection (made by ``Provider.session``)."""

    def verify(self) -> dict[str, Any]:
        """Check the CRM account may be connected (edition…); returns config to keep."""

    def describe(self, object_name: str) -> list[FieldInfo]: ...

    def count(self, object_name: str, *, since: datetime | None) -> int | None: ...

    def records(self, object_name: str, *, since: datetime | None,
                custom_fields: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Normalised records modified after ``since``; each has ``remote_id``,
        ``modified_at`` and the object's fields (see ``crm.sync``), plus
        ``custom`` with the raw values of ``custom_fields``."""


class CrmProvider(Protocol):
    key: str
    label: str
    connect_title: str
    native_objects: dict[str, str]  # FIELD_OBJECTS name → the CRM's own object name

    def authorize_url(self, *, config: dict, state: str, redirect_uri: str, login: bool = False) -> tuple[str, dict]:
        """Where to send the browser, and what to keep in the session until the callback."""

    def exchange_code(self, *, config: dict, pending: dict, params: dict, redirect_uri: str) -> Grant: ...

    def session(self, *, config: dict, secrets: dict,
                on_tokens: Callable[[dict], None]) -> CrmSession: ...

    def revoke(self, *, config: dict, secrets: dict) -> str:
        """Revoke Chorus's grant at the CRM; "" when done, else what the admin does."""


# --- HTTP shared by the requests-based clients (Salesforce, Dynamics) -------------------


def _sleep(seconds: float) -> None:  # patched in tests to record the waits
    time.sleep(seconds)


class CrmHttpSession(HttpSession):
    """A requests session that every call of a CRM client library goes through.

    It sends the current access token (so a refresh is seen by every later call,
    including simple-salesforce's Bulk 2.0 handler, which copies headers once),
    retries 429 and 503 after the server's ``Retry-After``, and on a 401 refreshes
    the token once through ``refresh`` and repeats the call. A second 401, or a
    refresh the CRM refuses, raises :class:`ReconnectRequired`.
    """

    def __init__(self, *, access_token: str, refresh: Callable[[], str] | None, crm_label: str):
        super().__init__()
        self.access_token = access_token
        self._refresh = refresh
        self.crm_label = crm_label

    def request(self, method, url, *args, **kwargs):
        refreshed = False
        attempt = 0
        while True:
            headers = dict(kwargs.pop("headers", None) or {})
            headers["Authorization"] = f"Bearer {self.access_token}"
            kwargs["headers"] = headers
            response = super().request(method, url, *args, **kwargs)
            if response.status_code in (429, 503):
                attempt += 1
                wait = parse_retry_after(response.headers.get("Retry-After"), default=min(2.0 ** attempt, 60.0))
                if attempt > MAX_RETRIES or wait > MAX_RETRY_WAIT_SECONDS:
                    raise RateLimitedError(
                        f"{self.crm_label} asked Chorus to slow down (HTTP {response.status_code}); "
                        "the sync continues at its next run.", wait)
                _sleep(wait)
                continue
            if response.status_code == 401:
                if refreshed or self._refresh is None:
                    raise ReconnectRequired(reconnect_message(self.crm_label))
                self.access_token = self._refresh()
                refreshed = True
                continue
            return response


def reconnect_message(crm_label: str) -> str:
    return (f"{crm_label} no longer accepts Chorus's sign-in (it expired or was revoked). "
            f"Reconnect: click Enable next to {crm_label} Connect and sign in again.")


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def coerce_custom(value: Any, field_type: str) -> Any:
    """A custom field's raw value (JSON or Bulk CSV text) as the type filters compare."""
    if value is None or value == "":
        return None
    if field_type in NUMERIC_TYPES:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if field_type == "Boolean":
        return as_bool(value)
    if field_type == "Multipicklist":
        return value if isinstance(value, list) else [v for v in str(value).split(";") if v]
    if field_type == "Date":
        return str(value)[:10]
    return value if isinstance(value, (str, int, float, bool, list)) else str(value)


class CrmProviderBase:
    """One CRM, described once: everything the rest of the product may ask about a
    CRM is an attribute or method here, so no key list, label map or ``if key ==``
    exists anywhere else. A CRM is a package ``crm/providers/<name>/`` whose
    ``provider`` object subclasses this and implements :class:`CrmProvider`; it is
    registered by one line in ``crm.providers.PACKAGES``.

    Capabilities default to the common case; a provider overrides what differs."""

    category = "crm"
    key = ""
    label = ""
    connect_title = ""
    enterprise_only = False
    # "Log in with …" on the CRM sign-in page (Dynamics signs in with Microsoft).
    sign_in_label = ""
    # Connect options: a form asked before the OAuth redirect. ``connect_form_first``
    # means Enable opens it (Dynamics needs the org URL); otherwise Enable goes
    # straight to the CRM and ``connect_options_label`` links to the form.
    connect_form: type | None = None
    connect_form_first = False
    connect_options_label = ""
    connect_intro = ""
    # CRM Objects Creation: calendar events (with the note shown under the matrix),
    # custom objects, and the size limits of a pushed activity.
    events = False
    event_note = ""
    custom_objects = True
    subject_max = 255
    body_max = 32_000
    body_html = False
    # Account matching: ZoomInfo ids on the CRM's accounts (seed, rule 1).
    zoominfo = False
    # The managed package offered on Settings > Integrations once connected: the URL
    # name of the page that installs it (``package_page``) or an outside link.
    package_page = ""
    package_url = ""
    # "crm.providers.<name>.push.<Sender>": the outbox sender for target ``key``.
    sender_path = ""

    @property
    def log_in_label(self) -> str:
        return self.sign_in_label or self.label

    def connect_config(self, *, options: dict, login: bool) -> dict[str, Any]:
        """What the connection keeps from the connect options (validated here)."""
        return {}

    def reconnect_fields(self, config: dict) -> dict[str, str]:
        """The connect options to send again when the admin clicks Reconnect."""
        return {}

    def open_session(self, *, connection) -> CrmSession:
        """A session on the org's connection (tokens refreshed and persisted)."""
        from crm.services import crm_session_open

        return crm_session_open(connection=connection)

    def sender(self):
        """A new outbox sender for this CRM's deliveries."""
        from django.utils.module_loading import import_string

        return import_string(self.sender_path)()

    def task_fields(self, *, org) -> list[tuple[str, str]]:
        """The org's imported Task fields of this CRM as (API name, label): where a
        dialer may have written the recording URL."""
        from crm.models import CrmField

        return list(CrmField.objects.for_org(org).filter(provider=self.key, object_name="Task", missing_since=None)
                    .order_by("label").values_list("api_name", "label"))

    def call_task_source(self, *, org, session):
        """Dialer calls logged in this CRM (``integrations.calls.CallTaskSource``),
        read through a CRM Connect ``session``; None when the CRM has none."""
        return None
