import json

import pytest

from sso.tokens import scim_token_create

SCIM = "/api/scim/v2"
SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


class ScimClient:
    """Django's test client speaking SCIM with one organisation's bearer token."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def _headers(self, extra):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra)
        return headers

    def get(self, path, data=None, **extra):
        return self.client.get(SCIM + path, data=data or {}, **self._headers(extra))

    def delete(self, path, **extra):
        return self.client.delete(SCIM + path, **self._headers(extra))

    def _send(self, method, path, body, content_type=SCIM_JSON, **extra):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return getattr(self.client, method)(SCIM + path, data=data, content_type=content_type,
                                            **self._headers(extra))

    def post(self, path, body, **kw):
        return self._send("post", path, body, **kw)

    def put(self, path, body, **kw):
        return self._send("put", path, body, **kw)

    def patch(self, path, body, **kw):
        return self._send("patch", path, body, **kw)


def activate_scim(org):
    """Support activates the feature; the org's admin turns it on (Settings > SSO)."""
    from sso.scim.provisioning import scim_provisioning_set

    org.scim_provisioning_allowed = True
    org.save(update_fields=["scim_provisioning_allowed"])
    scim_provisioning_set(org=org, actor=None, enabled=True)
    return org


@pytest.fixture
def scim_org(org):
    return activate_scim(org)


@pytest.fixture
def scim_other_org(other_org):
    return activate_scim(other_org)


@pytest.fixture
def scim_token(scim_org):
    return scim_token_create(org=scim_org, name="tests")[1]


@pytest.fixture
def scim(client, scim_token):
    return ScimClient(client, scim_token)


@pytest.fixture
def other_scim(client, scim_other_org):
    from django.test import Client

    return ScimClient(Client(), scim_token_create(org=scim_other_org, name="other")[1])


def load_fixture(name: str) -> dict:
    from pathlib import Path

    return json.loads((Path(__file__).parent / "fixtures" / "scim" / name).read_text())
