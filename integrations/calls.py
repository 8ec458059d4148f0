"""Calls that a dialer logged in another system, in one shape.

Most dialers log each call in the CRM (a Salesforce Task, a HubSpot call, a Dynamics
Phone Call) with the recording's URL in a field the admin picks. The dialer import
(``dialers``) reads them; each CRM (``crm.providers.<name>.call_tasks``) knows how
to list its own. They meet here, through the provider registry, not through each
other's modules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from integrations.registry import IntegrationError

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


class CallImportError(IntegrationError):
    """A failure of the whole run an admin can act on; ``str`` is the sentence shown."""


@dataclass
class CallRecord:
    """One call as a family found it, before it becomes an Engagement."""

    external_id: str
    started_at: datetime
    owner_email: str
    duration_seconds: int = 0
    title: str = ""
    prospect_name: str = ""
    prospect_email: str = ""
    prospect_phone: str = ""
    media_source: str = ""  # http(s) URL or s3://bucket/key
    direction: str = ""
    disposition: str = ""


class CallTaskSource(Protocol):
    """Call Tasks of one CRM whose ``field`` holds a recording URL, modified in ``[since, until)``."""

    def call_tasks(self, *, field: str, since: datetime, until: datetime) -> Iterator[list[CallRecord]]: ...


def check_field_name(name: str) -> str:
    """The field goes into a SOQL query, a HubSpot property list or an OData filter: API names only."""
    if not FIELD_NAME.match(name or ""):
        raise CallImportError(f"“{name}” is not a CRM API field name (letters, digits and underscores, "
                              "e.g. Call_Recording__c). Edit the dialer and pick the field again.")
    return name


def parse_dt(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00").replace("+0000", "+00:00"))


def utc_text(value: datetime) -> str:
    """A UTC timestamp as SOQL and OData filters write it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
