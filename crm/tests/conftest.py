"""Local stand-ins for the CRMs: one HTTPS server (trustme CA, trusted through
``REQUESTS_CA_BUNDLE``) that each test programs with the exact requests it expects."""

from __future__ import annotations

import base64
import json
import logging
import time
from urllib.parse import parse_qs, urlparse

import pytest

from crm.providers import base as crm_base
from crm.providers.salesforce import connect as sf_provider
from crm.push.clients import PushHttp
from crm.push.registry import register
from integrations import registry
from integrations.models import Connection
from testutils import crm_fakes
from testutils.factories import UserFactory


@pytest.fixture
def only_crm_sections(monkeypatch):
    """Settings > Integrations with the CRM Connect and field-import sections only:
    other apps' sections are not what these tests look at (and may be half-built
    in a shared tree)."""
    mine = {k: v for k, v in registry.SECTIONS.items() if k in ("crm-connect", "crm-fields")}
    monkeypatch.setattr(registry, "SECTIONS", mine)


@pytest.fixture
def crm_server(https_fake, settings, monkeypatch):
    """The fake CRM (HTTPS). Every setting that names a third party points at it."""
    base = https_fake.url_for("").rstrip("/")
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
    return https_fake


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


# --- CRM Objects Creation over the wire: one set of fixtures, parametrised by CRM ----------
# A push test module names its CRM with a ``push_crm`` fixture; ``connection``, ``rep``
# (the owner, with the CRM's user id) and ``fake`` (the CRM's fake, serving its API
# paths on crm_server) follow.
DYNAMICS_OWNER = "6f0e0000-0000-0000-0000-000000000001"
PUSH_CRMS = {
    "salesforce": {"fake": crm_fakes.FakeSalesforce, "paths": r"/services/data/.*", "owner": "005000000000001",
                   "token": "sf-token", "config": lambda base: {"instance_url": base, "crm_org_id": "00D1"}},
    # A HubSpot connection as connecting leaves it: the Chorus properties and custom
    # objects set up (the fake fixture sets its side up the same way).
    "hubspot": {"fake": crm_fakes.FakeHubSpot, "paths": r"/crm.*", "owner": "77",
                "token": "hs-token", "config": lambda base: {"crm_org_id": "123", **crm_fakes.FakeHubSpot().set_up()}},
    "dynamics": {"fake": crm_fakes.FakeDataverse, "paths": r"/api/data/.*", "owner": DYNAMICS_OWNER,
                 "token": "d365-token", "config": lambda base: {"org_url": base, "crm_org_id": "tenant-1"}},
}


@pytest.fixture
def push_settings(settings, monkeypatch):
    register()
    settings.OUTBOX_MAX_ATTEMPTS = 12
    monkeypatch.setattr(PushHttp, "timeout", (3, 10))


@pytest.fixture
def connection(org, crm_server, push_crm):
    spec = PUSH_CRMS[push_crm]
    return Connection.objects.create(org=org, provider=push_crm, status="ok",
                                     config=spec["config"](crm_server.url_for("").rstrip("/")),
                                     secrets={"access_token": spec["token"]})


@pytest.fixture
def rep(org, push_crm):
    return UserFactory(org=org, email="rep@acme.example", first_name="Rey", last_name="Rep",
                       external_ids={push_crm: PUSH_CRMS[push_crm]["owner"]})


@pytest.fixture
def fake(crm_server, caplog, push_crm):
    caplog.set_level(logging.WARNING, logger="werkzeug")
    spec = PUSH_CRMS[push_crm]
    fake = spec["fake"]()
    if hasattr(fake, "set_up"):
        fake.set_up()
    return crm_fakes.serve(crm_server, fake, spec["paths"])


# --- A connected Salesforce and its admin, for browser tests -----------------------------
BROWSER_PASSWORD = "correct horse battery staple"


@pytest.fixture
def salesforce_admin(org):
    """Org ``org`` with a connected Salesforce (acme.my.salesforce.com) and an admin, Ada,
    who logs in with ``BROWSER_PASSWORD``."""
    from integrations.models import Connection
    from testutils.factories import UserFactory, role

    Connection.objects.create(org=org, provider="salesforce", status="ok", config={
        "instance_url": "https://acme.my.salesforce.com", "crm_org_id": "00D5e000000Acme", "crm_org_name": "Acme",
        "crm_username": "ada@acme.example", "edition": "Enterprise Edition", "is_sandbox": False,
        "login_url": "https://login.salesforce.com"}, secrets={"access_token": "t"})
    return UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace",
                       role=role(org, "Admin"), password=BROWSER_PASSWORD)
