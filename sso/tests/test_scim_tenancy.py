"""Another organisation's token sees and changes nothing of this one."""

import pytest

from chorus.models import Team, User
from sso.tests.conftest import GROUP_SCHEMA, USER_SCHEMA
from testutils.factories import UserFactory

pytestmark = pytest.mark.django_db

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def acme_user(scim):
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "secret@acme.example", "title": "CFO"})
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def acme_group(scim, acme_user):
    return scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Acme Execs",
                                 "members": [{"value": acme_user["id"]}]}).json()


def test_other_org_gets_404_on_every_verb(other_scim, acme_user, acme_group):
    for path in (f"/Users/{acme_user['id']}", f"/Groups/{acme_group['id']}"):
        assert other_scim.get(path).status_code == 404
        assert other_scim.put(path, {"userName": "x@globex.example", "displayName": "x"}).status_code == 404
        assert other_scim.patch(path, {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "active", "value": False}]}).status_code == 404
        assert other_scim.delete(path).status_code == 404
    user = User.objects.get(pk=acme_user["id"])
    assert user.is_active and user.title == "CFO"
    assert Team.objects.filter(name="Acme Execs").exists()


def test_other_org_lists_and_filters_see_nothing(other_scim, acme_user, acme_group):
    assert other_scim.get("/Users").json()["totalResults"] == 0
    assert other_scim.get("/Users", {"filter": 'userName eq "secret@acme.example"'}).json()["totalResults"] == 0
    assert other_scim.get("/Groups", {"filter": 'displayName eq "Acme Execs"'}).json()["totalResults"] == 0
    assert other_scim.post("/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
                           ).json()["totalResults"] == 0


def test_same_email_in_two_orgs_is_fine_and_409_reveals_nothing(scim, other_scim, acme_user):
    """Uniqueness is per organisation; a conflict names only what the caller sent."""
    assert other_scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "secret@acme.example"}).status_code == 201

    UserFactory(org=User.objects.get(pk=acme_user["id"]).org, email="dup@acme.example", title="Hidden Title")
    conflict = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "dup@acme.example"})

    assert conflict.status_code == 409
    text = conflict.content.decode()
    assert "Hidden Title" not in text and "id" not in conflict.json()


def test_other_org_cannot_add_its_users_to_our_group_or_ours_to_its(scim, other_scim, acme_user, acme_group):
    theirs = other_scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "spy@globex.example"}).json()
    their_group = other_scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Spies"}).json()

    into_ours = scim.patch(f"/Groups/{acme_group['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": theirs["id"]}]}]})
    ours_into_theirs = other_scim.patch(f"/Groups/{their_group['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": acme_user["id"]}]}]})

    assert into_ours.status_code == ours_into_theirs.status_code == 400
    assert User.objects.get(pk=theirs["id"]).team is None
    assert User.objects.get(pk=acme_user["id"]).team.name == "Acme Execs"


def test_enterprise_manager_from_another_org_is_refused(other_scim, acme_user):
    theirs = other_scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "spy@globex.example"}).json()

    response = other_scim.patch(f"/Users/{theirs['id']}", {"schemas": [PATCH_OP], "Operations": [{
        "op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value": {"value": acme_user["id"]}}]})

    assert response.status_code == 400
    assert User.objects.get(pk=theirs["id"]).manager is None


def test_manager_email_only_matches_inside_the_org(other_scim, acme_user):
    theirs = other_scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "spy@globex.example",
                                        "manager_email": "secret@acme.example"})

    user = User.objects.get(pk=theirs.json()["id"])
    assert user.manager is None and user.pending_manager_email == "secret@acme.example"
