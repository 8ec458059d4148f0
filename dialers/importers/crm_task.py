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

from dialers.catalogue import HUBSPOT_SCOPES, Dialer
from dialers.importers.base import CallRecord, DialerImportError, Stored, http_fetch
from integrations.calls import CallTaskSource, check_field_name
from integrations.registry import PROVIDERS, IntegrationError

__all__ = ["CallTaskSource", "CrmTaskImporter", "call_task_source", "check_field_name", "own_key_call_source"]


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


def own_key_call_source(*, org, dialer: Dialer, secrets: dict) -> CallTaskSource:
    """The call records of ``dialer.reads_crm`` read with the dialer's own key, when
    that CRM is not the connected one (HubSpot Dialer beside Salesforce, or with no
    CRM). The CRM's own call-record reader is found through the registry and given a
    session on the key: HubSpot takes service keys and private app tokens as Bearer
    tokens, like the OAuth access tokens of CRM Connect, and they never need refreshing."""
    provider = PROVIDERS.get(dialer.reads_crm)
    key_field = next(f for f in dialer.credentials if f.unless_crm == dialer.reads_crm)
    token = str(secrets.get(key_field.name) or "")
    if provider is None:
        raise DialerImportError(f"{dialer.label} cannot read calls: {dialer.reads_crm} is not available.")
    if not token:
        raise DialerImportError(f"{dialer.label} needs a {key_field.label} while {provider.label} is not your "
                                f"connected CRM: click Edit and paste one.")
    session = provider.session(config={}, secrets={"access_token": token}, on_tokens=lambda tokens: None)
    return _OwnKeyCalls(provider.call_task_source(org=org, session=session), dialer=dialer,
                        key_label=key_field.label)


class _OwnKeyCalls:
    """Turns HubSpot's refusals of the dialer's key into sentences about that key. The
    CRM's own sentences say "reconnect CRM Connect", which is not what the admin must
    do here, and the client's errors of the calls and owners APIs (hubspot-api-client
    raises one exception class per API) reach here as they are: both carry the HTTP status."""

    def __init__(self, source: CallTaskSource, *, dialer: Dialer, key_label: str):
        self.source, self.dialer, self.key_label = source, dialer, key_label

    def call_tasks(self, *, field: str, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        try:
            yield from self.source.call_tasks(field=field, since=since, until=until)
        except Exception as exc:
            status = getattr(exc, "status", None) or getattr(exc.__cause__ or exc.__context__, "status", None)
            if not isinstance(status, int):
                raise
            refused = f"HubSpot refused the {self.dialer.label}'s {self.key_label}"
            if status == 401:
                raise DialerImportError(f"{refused} (HTTP 401: deleted, rotated or mistyped). Click Edit and paste "
                                        "the current key.") from exc
            if status == 403:
                raise DialerImportError(f"{refused} (HTTP 403): give it the scopes {' and '.join(HUBSPOT_SCOPES)}, "
                                        "then import again.") from exc
            if isinstance(exc, IntegrationError):
                raise
            raise DialerImportError(f"HubSpot answered HTTP {status} while Chorus read the {self.dialer.label}'s "
                                    "calls; the import is tried again at the next hourly run.") from exc


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
