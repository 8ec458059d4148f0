"""Clients for pushing: the real client libraries, built from a connection's instance
URL and access token.

Why not reuse ``crm.providers.*.session``: those sessions sleep through 429/503
inside the call (right for a sync job), while the outbox must hand a rate limit back
as :class:`~integrations.registry.RateLimited` so the worker moves on and the
deliveries wait as told. Token refresh stays with CRM Connect:
:func:`refresh_access_token` asks the shared provider session for a fresh token.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from hubspot import HubSpot
from simple_salesforce import Salesforce

from integrations.http import DEFAULT_TIMEOUT, ca_bundle

SALESFORCE_API_VERSION = "59.0"
DYNAMICS_API_PATH = "/api/data/v9.2/"


class PushHttp(requests.Session):
    """A requests session with a default timeout and the CA bundle, that keeps the
    last response so callers can read rate-limit headers (simple-salesforce's
    exceptions do not carry them)."""

    timeout: Any = DEFAULT_TIMEOUT

    def __init__(self, *, timeout: Any = None, access_token: str = ""):
        super().__init__()
        self.verify = ca_bundle()
        if timeout is not None:
            self.timeout = timeout
        self.last_response: requests.Response | None = None
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        self.last_response = None
        response = super().request(method, url, *args, **kwargs)
        self.last_response = response
        return response


def salesforce_client(*, instance_url: str, access_token: str, timeout: Any = None) -> tuple[Salesforce, PushHttp]:
    http = PushHttp(timeout=timeout)
    sf = Salesforce(instance_url=instance_url, session_id=access_token, session=http,
                    version=SALESFORCE_API_VERSION)
    return sf, http


def hubspot_client(*, access_token: str) -> HubSpot:
    """hubspot-api-client over urllib3: host and CA bundle from settings, and no
    urllib3 Retry (``retry=False``): 429s come back to the sender as exceptions, and
    a POST whose connection dropped is never re-sent behind the sender's back — its
    outcome is unknown, so the outbox retries it with a look-up first. (urllib3's
    default Retry leaves POST alone on read errors today; this does not rely on it.)
    The sender passes ``PushHttp.timeout`` as each call's ``_request_timeout``."""
    bundle = ca_bundle()
    return HubSpot(access_token=access_token, host=settings.HUBSPOT_API_URL, retry=False,
                   ssl_ca_cert=bundle if isinstance(bundle, str) else None)


def dynamics_http(*, org_url: str, access_token: str, timeout: Any = None) -> tuple[PushHttp, str]:
    http = PushHttp(timeout=timeout, access_token=access_token)
    http.headers.update({"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"})
    return http, org_url.rstrip("/") + DYNAMICS_API_PATH


def refresh_access_token(connection) -> str | None:
    """A fresh access token through CRM Connect's provider session (which persists
    it on the connection), or None when that is not possible."""
    try:
        from crm.services import crm_session_open

        session = crm_session_open(connection=connection)
        http = getattr(getattr(session, "sf", None), "session", None) or getattr(session, "http", None)
        refresh = getattr(http, "_refresh", None) or getattr(session, "_refresh", None)
        return refresh() if refresh else None
    except Exception:  # the sender reports "reconnect" to the admin instead
        return None
