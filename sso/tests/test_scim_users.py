"""Chorus's custom attributes, roles, managers, teams and the failure modes."""

from unittest import mock

import pytest
from django.db import IntegrityError
from django.test import Client

from chorus import services
from chorus.models import Team, User
from testutils.factories import UserFactory

pytestmark = pytest.mark.django_db

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _user(scim, email, **attrs):
    response = scim.post("/Users", {"schemas": [CORE], "userName": email, "emails": [{"value": email}], **attrs})
    assert response.status_code == 201, response.content
    return response.json()


def _patch(scim, doc, *operations):
    return scim.patch(f"/Users/{doc['id']}", {"schemas": [PATCH_OP], "Operations": list(operations)})


@pytest.mark.parametrize("shape", ["bare", "urn_key", "nested"])
def test_custom_attributes_in_every_shape(scim, shape):
    attrs = {"chorus_role": "Admin", "chorus_license_type": "listener", "manager_email": "later@acme.example"}
    body = {
        "bare": attrs,
        "urn_key": {f"{CORE}:{k}": v for k, v in attrs.items()},
        "nested": {CORE: attrs},
    }[shape]

    doc = _user(scim, "shape@acme.example", **body)

    user = User.objects.get(pk=doc["id"])
    assert (user.role.name, user.license_type, user.pending_manager_email) == (
        "Admin", "listener", "later@acme.example")
    assert (doc["chorus_role"], doc["chorus_license_type"], doc["manager_email"]) == (
        "Admin", "listener", "later@acme.example")


@pytest.mark.parametrize("path", ["chorus_role", f"{CORE}:chorus_role"])
def test_patch_custom_attribute_by_bare_and_urn_path(scim, path):
    doc = _user(scim, "p@acme.example")

    response = _patch(scim, doc, {"op": "replace", "path": path, "value": "rep (sdr)"})

    assert response.json()["chorus_role"] == "Rep (SDR)"


def test_patch_nested_core_urn_object_without_path(scim):
    doc = _user(scim, "n@acme.example")

    _patch(scim, doc, {"op": "replace", "value": {CORE: {"chorus_license_type": "Listener"}}})

    assert User.objects.get(pk=doc["id"]).license_type == "listener"


def test_custom_role_created_in_chorus_first_is_accepted(scim, scim_org):
    services.role_create(org=scim_org, name="Sales Engineer")

    doc = _user(scim, "se@acme.example", chorus_role="Sales Engineer")

    assert User.objects.get(pk=doc["id"]).role.name == "Sales Engineer"
    schema = scim.get(f"/Schemas/{CORE}").json()
    role_attr = next(a for a in schema["attributes"] if a["name"] == "chorus_role")
    assert "Sales Engineer" in role_attr["canonicalValues"]


@pytest.mark.parametrize("attrs", [{"chorus_role": "Overlord"}, {"chorus_license_type": "viewer"}])
def test_unknown_role_or_license_is_400_invalid_value_and_creates_nothing(scim, attrs):
    response = scim.post("/Users", {"schemas": [CORE], "userName": "x@acme.example", **attrs})

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert not User.objects.filter(email="x@acme.example").exists()


def test_role_of_another_org_is_not_accepted(scim, scim_other_org):
    services.role_create(org=scim_other_org, name="Globex Only")

    response = scim.post("/Users", {"schemas": [CORE], "userName": "x@acme.example", "chorus_role": "Globex Only"})

    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"


def test_manager_provisioned_after_reports_is_linked_and_team_built(scim):
    reports = [_user(scim, f"r{i}@acme.example", manager_email="Boss@acme.example") for i in range(2)]
    assert all(User.objects.get(pk=r["id"]).manager is None for r in reports)

    boss = _user(scim, "boss@acme.example", name={"givenName": "Bea", "familyName": "Boss"})

    team = Team.objects.get(manager_id=boss["id"])
    for r in reports:
        user = User.objects.get(pk=r["id"])
        assert user.manager_id == int(boss["id"]) and user.team == team
        assert user.pending_manager_email == ""
    listed = scim.get(f"/Groups/team-{team.pk}").json()
    assert sorted(m["value"] for m in listed["members"]) == sorted(r["id"] for r in reports)
    assert scim.get(f"/Users/{reports[0]['id']}").json()["groups"][0]["display"] == "Bea Boss's team"


def test_changing_manager_moves_the_user_to_the_new_team(scim, scim_org):
    a, b = (UserFactory(org=scim_org, email=e) for e in ("a@acme.example", "b@acme.example"))
    doc = _user(scim, "mover@acme.example", manager_email="a@acme.example")

    _patch(scim, doc, {"op": "replace", "path": "manager_email", "value": "b@acme.example"})

    user = User.objects.get(pk=doc["id"])
    assert user.manager == b and user.team == Team.objects.get(manager=b)
    assert not Team.objects.get(manager=a).members.exists()


def test_manager_cycle_is_400(scim):
    boss = _user(scim, "boss@acme.example")
    _user(scim, "mid@acme.example", manager_email="boss@acme.example")

    response = _patch(scim, boss, {"op": "replace", "path": "manager_email", "value": "mid@acme.example"})

    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"
    assert User.objects.get(pk=boss["id"]).manager is None


def test_empty_manager_email_clears_manager(scim, scim_org):
    UserFactory(org=scim_org, email="boss@acme.example")
    doc = _user(scim, "r@acme.example", manager_email="boss@acme.example")

    response = _patch(scim, doc, {"op": "replace", "value": {"manager_email": ""}})

    assert "manager_email" not in response.json()
    assert User.objects.get(pk=doc["id"]).manager is None


@pytest.mark.parametrize("flt", ['name.formatted eq "x"', 'nickName eq "x"', 'manager.value eq "1"',
                                 'userName eq', 'urn:foo:bar eq "x"'])
def test_unsupported_or_broken_filters_are_400_invalid_filter(scim, flt):
    response = scim.get("/Users", {"filter": flt})

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidFilter"


@pytest.mark.parametrize("flt", ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "f@acme.example"',
                                 'username eq "F@acme.example"', 'emails.value eq "f@acme.example"',
                                 'emails[type eq "work"].value eq "f@acme.example"',
                                 'active eq true and name.givenName sw "Fi"'])
def test_supported_filter_spellings(scim, flt):
    doc = _user(scim, "f@acme.example", name={"givenName": "Fiona"})

    body = scim.get("/Users", {"filter": flt}).json()

    assert [r["id"] for r in body["Resources"]] == [doc["id"]]


def test_attributes_parameter(scim):
    doc = _user(scim, "a@acme.example", title="AE")

    body = scim.get(f"/Users/{doc['id']}", {"attributes": "userName,urn:ietf:params:scim:schemas:core:2.0:User:title"})

    assert set(body.json()) == {"id", "schemas", "userName", "title"}


def test_post_is_atomic_when_serialising_fails(scim):
    with mock.patch("sso.scim.adapters.ScimUser.to_dict", side_effect=RuntimeError("boom")):
        response = scim.post("/Users", {"schemas": [CORE], "userName": "atomic@acme.example"})

    assert response.status_code == 500
    assert "boom" not in response.content.decode()
    assert not User.objects.filter(email="atomic@acme.example").exists()
    assert scim.post("/Users", {"schemas": [CORE], "userName": "atomic@acme.example"}).status_code == 201


def test_patch_is_atomic(scim):
    doc = _user(scim, "pa@acme.example", title="Before")

    response = _patch(scim, doc, {"op": "replace", "path": "title", "value": "After"},
                      {"op": "replace", "path": "chorus_role", "value": "No Such Role"})

    assert response.status_code == 400
    assert User.objects.get(pk=doc["id"]).title == "Before"


def test_database_error_text_never_reaches_the_response(scim):
    with mock.patch("chorus.services.User.save",
                    side_effect=IntegrityError("UNIQUE constraint failed: chorus_user.email, chorus_user.org_id")):
        response = scim.post("/Users", {"schemas": [CORE], "userName": "race@acme.example"})

    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert "chorus_user" not in response.content.decode()
    assert "UNIQUE" not in response.content.decode()


def test_deactivated_user_keeps_data_and_cannot_sign_in(scim, scim_org):
    doc = _user(scim, "gone@acme.example", chorus_role="Admin", title="VP")
    user = User.objects.get(pk=doc["id"])
    user.set_password("a-long-test-password-1")
    user.save()
    browser = Client()
    assert browser.login(username="gone@acme.example", password="a-long-test-password-1")

    _patch(scim, doc, {"op": "replace", "path": "active", "value": False})

    assert not Client().login(username="gone@acme.example", password="a-long-test-password-1")
    assert browser.get("/settings/organization/").status_code == 302  # the old session is over
    user.refresh_from_db()
    assert (user.role.name, user.title, user.email) == ("Admin", "VP", "gone@acme.example")


def test_emails_required_unless_username_is_an_email(scim):
    response = scim.post("/Users", {"schemas": [CORE], "userName": "not-an-email"})

    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"


def test_every_user_query_is_scoped_to_the_org_in_sql(scim, scim_other_org):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    UserFactory(org=scim_other_org, email="f@acme.example")
    doc = _user(scim, "f@acme.example")

    with CaptureQueriesContext(connection) as queries:
        body = scim.get("/Users", {"filter": 'userName eq "f@acme.example"'}).json()
        scim.get(f"/Users/{doc['id']}")
        _patch(scim, doc, {"op": "replace", "path": "title", "value": "T"})

    assert [r["id"] for r in body["Resources"]] == [doc["id"]]
    user_selects = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and 'FROM "chorus_user"' in q["sql"]]
    assert user_selects
    assert all('"chorus_user"."org_id" =' in sql for sql in user_selects), user_selects


def test_put_is_atomic(scim):
    doc = _user(scim, "put@acme.example", title="Before")

    response = scim.put(f"/Users/{doc['id']}", {"schemas": [CORE], "userName": "put@acme.example",
                                               "title": "After", "chorus_role": "No Such Role"})

    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"
    assert User.objects.get(pk=doc["id"]).title == "Before"


def test_remove_without_path_is_400_no_target(scim):
    doc = _user(scim, "np@acme.example")

    response = _patch(scim, doc, {"op": "remove"})

    assert response.status_code == 400 and response.json()["scimType"] == "noTarget"


def test_unknown_op_is_400_invalid_syntax(scim):
    doc = _user(scim, "op@acme.example")

    response = _patch(scim, doc, {"op": "merge", "path": "title", "value": "x"})

    assert response.status_code == 400 and response.json()["scimType"] == "invalidSyntax"
