"""The ``crm_task`` family: most dialers log each call as a Task in the CRM with
the recording's URL in a field the admin picks (seed: "Chorus will import your
dialer calls from the Call Recording URL located on the Call Task").

The connected CRM lists its own call tasks (its provider's ``call_task_source``,
found through the registry); this module only fetches the recordings, so a CRM is
one class in its own package, not one per dialer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO

import requests

from dialers.importers.base import CallRecord, DialerImportError, Stored, http_fetch
from integrations.calls import CallTaskSource, check_field_name
from integrations.registry import PROVIDERS

__all__ = ["CallTaskSource", "CrmTaskImporter", "call_task_source", "check_field_name"]


def call_task_source(*, org, crm_connection) -> CallTaskSource:
    """The connected CRM's call tasks, through CRM Connect's authenticated session."""
    if crm_connection is None:
        raise DialerImportError("Connect your CRM under CRM Connect first: this dialer's calls are read from "
                                "the CRM's call Tasks.")
    provider = PROVIDERS.get(crm_connection.provider)
    session = provider.open_session(connection=crm_connection) if provider is not None else None
    source = provider.call_task_source(org=org, session=session) if session is not None else None
    if source is None:
        raise DialerImportError(f"Dialer calls cannot be read from “{crm_connection.provider}”.")
    return source


class CrmTaskImporter:
    """Calls from CRM Tasks; recordings fetched over HTTP. Dialers whose seed row
    asks for a username/password or key/secret get them sent as HTTP Basic (or
    an API key header) on the recording download."""

    def __init__(self, *, source: CallTaskSource, field: str, http: requests.Session, auth=None,
                 headers: dict | None = None):
        self.source, self.field, self.http, self.auth, self.headers = source, field, http, auth, headers

    def pages(self, *, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        return self.source.call_tasks(field=self.field, since=since, until=until)

    def fetch_media(self, record_source: str, dest: IO[bytes], *, max_bytes: int) -> Stored:
        return http_fetch(self.http, record_source, dest, max_bytes=max_bytes, auth=self.auth, headers=self.headers)
