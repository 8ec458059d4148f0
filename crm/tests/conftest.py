"""Local stand-ins for the CRMs: one HTTPS server (trustme CA, trusted through
``REQUESTS_CA_BUNDLE``) that each test programs with the exact requests it expects."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlparse

import pytest

from crm.providers import base as crm_base
from crm.providers import salesforce as sf_provider
from integrations import registry
from testutils.servers import https_server


@pytest.fixture(scope="session")
def crm_ca(tls_ca):
    return tls_ca


@pytest.fixture(scope="session")
def crm_ca_file(tls_ca_file):
    return tls_ca_file


@pytest.fixture(scope="session")
def _crm_https(crm_ca):
    server = https_server(crm_ca)
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def only_crm_sections(monkeypatch):
    """Settings > Integrations with the CRM Connect and field-import sections only:
    other apps' sections are not what these tests look at (and may be half-built
    in a shared tree)."""
    mine = {k: v for k, v in registry.SECTIONS.items() if k in ("crm-connect", "crm-fields")}
    monkeypatch.setattr(registry, "SECTIONS", mine)


@pytest.fixture
def crm_server(_crm_https, crm_ca_file, settings, monkeypatch):
    """The fake CRM (HTTPS). Every setting that names a third party points at it."""
    _crm_https.clear()
    base = _crm_https.url_for("").rstrip("/")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", crm_ca_file)
    settings.REQUESTS_CA_BUNDLE = crm_ca_file
    settings.CHORUS_BASE_URL = "https://chorus.test"
    settings.SALESFORCE_LOGIN_URL = base
    settings.SALESFORCE_CLIENT_ID = "sf-client-id"
    settings.SALESFORCE_CLIENT_SECRET = "sf-client-secret"
    settings.HUBSPOT_AUTH_URL = base
    settings.HUBSPOT_API_URL = base
    settings.HUBSPOT_CLIENT_ID = "hs-client-id"
    settings.HUBSPOT_CLIENT_SECRET = "hs-client-secret"
    settings.MICROSOFT_AUTHORITY_URL = base
    settings.MICROSOFT_CLIENT_ID = "ms-client-id"
    settings.MICROSOFT_CLIENT_SECRET = "ms-client-secret"
    settings.DYNAMICS_ALLOWED_HOSTS = ["*.dynamics.com", "localhost"]
    monkeypatch.setattr(sf_provider, "BULK_POLL_WAIT", 0)
    yield _crm_https
    _crm_https.clear()


@pytest.fixture
def sleeps(monkeypatch):
    """Waits the requests-based clients took (Retry-After), without waiting."""
    waits: list[float] = []
    monkeypatch.setattr(crm_base, "_sleep", waits.append)
    return waits


def requests_to(server, path: str, method: str | None = None):
    return [req for req, _ in server.log if req.path == path and (method is None or req.method == method)]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def unsigned_jwt(claims: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.sig"


def id_token_claims(**extra) -> dict:
    now = int(time.time())
    return {"iat": now, "nbf": now, "exp": now + 3600, "sub": "sub-1", **extra}
