"""Bearer tokens, the support activation flag, and SCIM error bodies."""

import pytest
from django.test import Client

from sso.models import ScimToken
from sso.tests.conftest import USER_SCHEMA, ScimClient
from sso.tokens import scim_token_create, scim_token_revoke

pytestmark = pytest.mark.django_db

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _assert_error(response, status):
    assert response.status_code == status
    assert response["Content-Type"] == "application/scim+json"
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body["detail"]
    return body


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-token", "Basic dXNlcjpwYXNz"])
def test_missing_or_bad_token_is_scim_401(client, scim_org, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get("/api/scim/v2/Users", **extra)

    _assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_401(client, scim_org):
    token, raw = scim_token_create(org=scim_org)
    scim_token_revoke(token=token)

    _assert_error(ScimClient(client, raw).get("/Users"), 401)


def test_org_without_provisioning_activated_is_403(client, org):
    _, raw = scim_token_create(org=org)

    body = _assert_error(ScimClient(client, raw).get("/Users"), 403)
    assert "support" in body["detail"]


def test_org_whose_admin_turned_provisioning_off_is_403(client, scim_org):
    from sso.scim.provisioning import scim_provisioning_set

    _, raw = scim_token_create(org=scim_org)
    scim_provisioning_set(org=scim_org, actor=None, enabled=False)

    body = _assert_error(ScimClient(client, raw).get("/Users"), 403)
    assert "Settings > SSO" in body["detail"]


def test_a_console_session_grants_nothing(admin_client, scim_org):
    _assert_error(admin_client.get("/api/scim/v2/Users"), 401)


def test_several_tokens_work_for_rotation(client, scim_org):
    raws = [scim_token_create(org=scim_org)[1] for _ in range(2)]

    assert [ScimClient(client, raw).get("/Users").status_code for raw in raws] == [200, 200]
    assert ScimToken.objects.filter(org=scim_org, last_used_at__isnull=False).count() == 2


def test_unknown_url_is_scim_404(scim):
    _assert_error(scim.get("/Nope"), 404)
    _assert_error(scim.get("/Schemas/urn:nope"), 404)
    _assert_error(scim.get("/ResourceTypes/Nope"), 404)
    _assert_error(scim.get("/Groups/42"), 404)


def test_wrong_method_is_scim_405(scim):
    _assert_error(scim.delete("/ServiceProviderConfig"), 405)


def test_bulk_is_scim_501(scim):
    _assert_error(scim.post("/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]}), 501)


def test_unauthenticated_unknown_url_is_401_not_404(client, scim_org):
    _assert_error(Client().get("/api/scim/v2/Whatever"), 401)


def test_plain_json_content_type_is_accepted(scim):
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "json@acme.example"},
                         content_type="application/json")

    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/scim+json"


def test_malformed_json_is_400_invalid_syntax(scim):
    body = _assert_error(scim.post("/Users", "{not json"), 400)
    assert body["scimType"] == "invalidSyntax"
