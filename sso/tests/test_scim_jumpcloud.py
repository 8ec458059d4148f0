"""JumpCloud-shaped provisioning: Test Connection, group pushes, member changes."""

import pytest

from chorus.models import Team, User
from sso.tests.conftest import load_fixture

pytestmark = pytest.mark.django_db

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_test_connection_creates_and_deletes_a_user_and_a_group(scim, scim_org):
    user = scim.post("/Users", load_fixture("jumpcloud/create_user.json"))
    group = scim.post("/Groups", load_fixture("jumpcloud/create_group.json"))
    assert (user.status_code, group.status_code) == (201, 201), (user.content, group.content)
    assert group.json()["id"].startswith("team-")

    assert scim.delete(f"/Users/{user.json()['id']}").status_code == 204
    assert scim.delete(f"/Groups/{group.json()['id']}").status_code == 204

    assert not User.objects.filter(email="jc.test@acme.example").exists()
    assert not Team.objects.for_org(scim_org).exists()
    gone = scim.get(f"/Users/{user.json()['id']}")
    assert gone.status_code == 404 and gone.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_repeated_member_adds_are_idempotent(scim):
    user = scim.post("/Users", load_fixture("jumpcloud/create_user.json")).json()
    group = scim.post("/Groups", load_fixture("jumpcloud/create_group.json")).json()
    add = {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}]}

    first, second = scim.patch(f"/Groups/{group['id']}", add), scim.patch(f"/Groups/{group['id']}", add)

    assert first.status_code == second.status_code == 200
    assert [m["value"] for m in second.json()["members"]] == [user["id"]]
    assert User.objects.get(pk=user["id"]).team_id == int(group["id"].removeprefix("team-"))


def test_member_removal_by_value_list(scim):
    user = scim.post("/Users", load_fixture("jumpcloud/create_user.json")).json()
    group = scim.post("/Groups", {**load_fixture("jumpcloud/create_group.json"),
                                  "members": [{"value": user["id"]}]}).json()
    assert [m["value"] for m in group["members"]] == [user["id"]]

    response = scim.patch(f"/Groups/{group['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "remove", "path": "members", "value": [{"value": user["id"]}]}]})

    assert response.status_code == 200
    assert "members" not in response.json()
    assert User.objects.get(pk=user["id"]).team is None


def test_group_rename_and_put_members(scim):
    a = scim.post("/Users", load_fixture("jumpcloud/create_user.json")).json()
    group = scim.post("/Groups", load_fixture("jumpcloud/create_group.json")).json()

    response = scim.put(f"/Groups/{group['id']}", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                                   "displayName": "Renamed", "members": [{"value": a["id"]}]})

    assert response.status_code == 200
    assert response.json()["displayName"] == "Renamed"
    assert [m["value"] for m in response.json()["members"]] == [a["id"]]


@pytest.mark.parametrize("flt", ['members.display eq "x"', 'name eq "x"', 'displayName zz "x"'])
def test_group_filters_on_unsupported_attributes_are_400(scim, flt):
    response = scim.get("/Groups", {"filter": flt})

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidFilter"
