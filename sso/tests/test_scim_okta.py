"""Okta-shaped provisioning: the requests Okta's SCIM 2.0 app sends."""

import json

import pytest

from chorus.models import User
from sso.tests.conftest import load_fixture
from testutils.factories import UserFactory

pytestmark = pytest.mark.django_db


def _create(scim, **overrides):
    body = {**load_fixture("okta/create_user.json"), **overrides}
    response = scim.post("/Users", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_create_user_with_custom_attributes(scim, scim_org):
    doc = _create(scim)

    user = User.objects.get(pk=doc["id"])
    assert (user.org, user.email, user.first_name, user.last_name) == (scim_org, "Jane.Doe@acme.example", "Jane", "Doe")
    assert user.role.name == "Manager (AE/Other)"
    assert user.license_type == "recorder"
    assert user.external_id == "00u1ab2cd3EFgh4ij5k6"
    assert doc["chorus_role"] == "Manager (AE/Other)"
    assert doc["userName"] == "Jane.Doe@acme.example"
    assert doc["meta"]["location"].endswith(f"/api/scim/v2/Users/{doc['id']}")


def test_filter_by_username_is_case_insensitive(scim):
    doc = _create(scim)

    response = scim.get("/Users", {"filter": 'userName eq "jane.doe@ACME.example"', "startIndex": 1, "count": 100})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/scim+json"
    body = response.json()
    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == doc["id"]


def test_filter_finds_users_created_outside_scim(scim, rep_user):
    """Okta "creates or links": a user an admin made by hand is found by email."""
    body = scim.get("/Users", {"filter": 'userName eq "REP@acme.example"'}).json()

    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == str(rep_user.pk)


def test_filter_for_absent_user_is_empty_200(scim):
    response = scim.get("/Users", {"filter": 'userName eq "nobody@acme.example"', "startIndex": 1, "count": 100})

    assert response.status_code == 200
    assert response.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0, "itemsPerPage": 0, "startIndex": 1, "Resources": [],
    }


def test_paging_is_one_based_and_stable(scim, scim_org):
    users = [UserFactory(org=scim_org, email=f"p{i}@acme.example") for i in range(5)]
    ids = [str(u.pk) for u in sorted(users, key=lambda u: u.pk)]

    pages = [scim.get("/Users", {"startIndex": start, "count": 2}).json() for start in (1, 3, 5)]

    assert [p["startIndex"] for p in pages] == [1, 3, 5]
    assert all(p["totalResults"] == 5 for p in pages)
    assert [r["id"] for p in pages for r in p["Resources"]] == ids
    assert [p["itemsPerPage"] for p in pages] == [2, 2, 1]


def test_put_is_a_full_replace_including_deactivation(scim):
    doc = _create(scim, title="AE")
    put = json.loads(json.dumps(load_fixture("okta/put_deactivate.json")).replace("{id}", doc["id"]))

    response = scim.put(f"/Users/{doc['id']}", put)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active"] is False
    assert "title" not in body  # absent from the PUT: replaced by nothing
    user = User.objects.get(pk=doc["id"])
    assert not user.is_active and user.license_type == "listener" and user.title == ""


def test_patch_without_path_deactivates(scim):
    doc = _create(scim)

    response = scim.patch(f"/Users/{doc['id']}", load_fixture("okta/patch_deactivate.json"))

    assert response.status_code == 200
    assert response.json()["active"] is False
    assert not User.objects.get(pk=doc["id"]).is_active


def test_duplicate_create_is_409_uniqueness(scim):
    _create(scim)

    response = scim.post("/Users", {**load_fixture("okta/create_user.json"), "userName": "JANE.DOE@acme.example",
                                    "emails": [{"value": "jane.doe@ACME.example", "primary": True}]})

    assert response.status_code == 409
    assert response["Content-Type"] == "application/scim+json"
    body = response.json()
    assert body["scimType"] == "uniqueness"
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "409"
    assert User.objects.filter(email__iexact="jane.doe@acme.example").count() == 1


def test_reactivation_restores_the_same_account(scim):
    doc = _create(scim)
    scim.patch(f"/Users/{doc['id']}", load_fixture("okta/patch_deactivate.json"))

    response = scim.patch(f"/Users/{doc['id']}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": True}}],
    })

    assert response.json()["active"] is True
    user = User.objects.get(pk=doc["id"])
    assert user.is_active and user.role.name == "Manager (AE/Other)" and user.external_id == "00u1ab2cd3EFgh4ij5k6"
