"""Azure / Entra ID-shaped provisioning (the "customappsso" SCIM client)."""

import uuid

import pytest

from chorus.models import Team, User
from sso.tests.conftest import GROUP_SCHEMA, load_fixture
from testutils.factories import UserFactory

pytestmark = pytest.mark.django_db

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _create(scim, **overrides):
    response = scim.post("/Users", {**load_fixture("azure/create_user.json"), **overrides})
    assert response.status_code == 201, response.content
    return response.json()


def test_test_connection_probe_with_random_guid(scim):
    """Entra's "Test Connection" filters on a random userName and expects an empty 200."""
    response = scim.get("/Users", {"filter": f'userName eq "{uuid.uuid4()}"'})

    assert response.status_code == 200
    assert response.json()["totalResults"] == 0


def test_get_user_by_random_guid_is_scim_404(scim):
    response = scim.get(f"/Users/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/scim+json"
    assert response.json()["status"] == "404"


def test_create_with_urn_keys_string_booleans_and_upn(scim, scim_org):
    doc = _create(scim)

    user = User.objects.get(pk=doc["id"])
    assert user.email == "ava.azure@acme.example"
    assert doc["userName"] == "Ava.Azure@acme.onmicrosoft.com"  # the UPN is kept apart from the email
    assert user.is_active is True
    assert user.role.name == "Rep (SDR)"
    assert user.pending_manager_email == "azure.34994@acme.example"
    assert doc["manager_email"] == "azure.34994@acme.example"


def test_filter_on_external_id(scim):
    doc = _create(scim)

    body = scim.get("/Users", {"filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'}).json()

    assert [r["id"] for r in body["Resources"]] == [doc["id"]]


def test_filter_on_username_by_upn(scim):
    doc = _create(scim)

    body = scim.get("/Users", {"filter": 'userName eq "ava.azure@ACME.onmicrosoft.com"'}).json()

    assert [r["id"] for r in body["Resources"]] == [doc["id"]]


def test_capitalised_ops_value_path_filters_and_urn_paths(scim):
    doc = _create(scim)

    response = scim.patch(f"/Users/{doc['id']}", load_fixture("azure/patch_user.json"))

    assert response.status_code == 200, response.content
    user = User.objects.get(pk=doc["id"])
    assert (user.email, user.last_name, user.title, user.license_type) == (
        "ava.new@acme.example", "Azure-Smith", "Senior AE", "listener")


def test_no_path_replace_with_dotted_and_urn_keys_and_string_false(scim):
    doc = _create(scim)

    response = scim.patch(f"/Users/{doc['id']}", load_fixture("azure/patch_no_path.json"))

    assert response.status_code == 200, response.content
    user = User.objects.get(pk=doc["id"])
    assert (user.first_name, user.role.name, user.is_active) == ("Avery", "Enablement/Leadership", False)


def test_active_string_true_reactivates(scim):
    doc = _create(scim, active="False")
    assert doc["active"] is False

    scim.patch(f"/Users/{doc['id']}", {"schemas": [PATCH_OP],
                                       "Operations": [{"op": "Replace", "path": "active", "value": "True"}]})

    assert User.objects.get(pk=doc["id"]).is_active


def test_enterprise_manager_as_bare_id_and_clear(scim, scim_org):
    manager = UserFactory(org=scim_org, email="boss@acme.example", first_name="Bo", last_name="Ss")
    doc = _create(scim)
    path = f"{ENTERPRISE}:manager"

    added = scim.patch(f"/Users/{doc['id']}", {"schemas": [PATCH_OP],
                                               "Operations": [{"op": "Add", "path": path, "value": str(manager.pk)}]})

    assert added.status_code == 200, added.content
    assert added.json()[ENTERPRISE]["manager"]["value"] == str(manager.pk)
    user = User.objects.get(pk=doc["id"])
    assert user.manager == manager and user.team == Team.objects.get(manager=manager)

    cleared = scim.patch(f"/Users/{doc['id']}", {"schemas": [PATCH_OP],
                                                 "Operations": [{"op": "Replace", "path": path, "value": ""}]})

    assert ENTERPRISE not in cleared.json()
    user.refresh_from_db()
    assert user.manager is None and user.team is None


def test_enterprise_manager_as_value_object_and_remove(scim, scim_org):
    manager = UserFactory(org=scim_org, email="boss@acme.example")
    body = {k: v for k, v in load_fixture("azure/create_user.json").items() if not k.endswith("manager_email")}
    doc = scim.post("/Users", {**body, ENTERPRISE: {"manager": {"value": str(manager.pk)}}}).json()
    assert User.objects.get(pk=doc["id"]).manager == manager

    scim.patch(f"/Users/{doc['id']}", {"schemas": [PATCH_OP],
                                       "Operations": [{"op": "Remove", "path": f"{ENTERPRISE}:manager"}]})

    assert User.objects.get(pk=doc["id"]).manager is None


def test_groups_filter_on_display_name_and_excluded_members(scim, scim_org):
    created = scim.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                    "displayName": "West Sales", "externalId": "e1f2"}).json()
    user = _create(scim)
    scim.patch(f"/Groups/{created['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": user["id"]}]}]})

    body = scim.get("/Groups", {"excludedAttributes": "members", "filter": 'displayName eq "west sales"'}).json()

    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == created["id"]
    assert "members" not in body["Resources"][0]
    single = scim.get(f"/Groups/{created['id']}", {"excludedAttributes": "members"}).json()
    assert "members" not in single and single["displayName"] == "West Sales"
    assert scim.get(f"/Groups/{created['id']}").json()["members"][0]["value"] == user["id"]


def test_groups_filter_on_external_id(scim):
    created = scim.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                    "displayName": "East", "externalId": "aad-group-1"}).json()

    body = scim.get("/Groups", {"filter": 'externalId eq "aad-group-1"'}).json()

    assert [r["id"] for r in body["Resources"]] == [created["id"]]


def test_group_member_removal_by_value_path(scim, scim_org):
    team = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Team"}).json()
    a, b = _create(scim), _create(scim, userName="b@acme.example", emails=[{"value": "b@acme.example"}],
                                  externalId="x")
    scim.patch(f"/Groups/{team['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": a["id"]}, {"value": b["id"]}]}]})

    response = scim.patch(f"/Groups/{team['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Remove", "path": f'members[value eq "{a["id"]}"]'}]})

    assert response.status_code == 200, response.content
    assert [m["value"] for m in response.json()["members"]] == [b["id"]]
    assert User.objects.get(pk=a["id"]).team is None


def test_group_membership_filter(scim):
    """Entra checks membership with ``id eq "…" and members[value eq "…"]``."""
    user = _create(scim)
    group = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Members",
                                  "members": [{"value": user["id"]}]}).json()
    flt = f'id eq "{group["id"]}" and members[value eq "{user["id"]}"]'

    body = scim.get("/Groups", {"filter": flt, "excludedAttributes": "members"}).json()

    assert [r["id"] for r in body["Resources"]] == [group["id"]]
    none = scim.get("/Groups", {"filter": f'id eq "{group["id"]}" and members[value eq "999999"]'}).json()
    assert none["totalResults"] == 0
