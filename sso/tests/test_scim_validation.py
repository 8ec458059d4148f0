"""What a SCIM request must be before anything is read or written: a body of the
resource's own schema, ids and paging values that can be ids and integers. Every
refusal is a SCIM 400 (or 404) body, never a 500 or a database error."""

import pytest

from chorus.models import Team, User
from sso.scim.adapters import DEFAULT_LICENSE, DEFAULT_ROLE
from sso.tests.conftest import GROUP_SCHEMA, USER_SCHEMA

pytestmark = pytest.mark.django_db

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def assert_error(response, status: int, *scim_types: str):
    body = response.json()
    assert response.status_code == status, body
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_types:
        assert body["scimType"] in scim_types, body


# --- A body must be of its resource's schema --------------------------------------------------

WRONG_USER_SCHEMAS = {
    "group-schema": [GROUP_SCHEMA],
    "no-schemas": None,
    "empty-list": [],
    "only-enterprise": [ENTERPRISE],
    "user-and-group": [USER_SCHEMA, GROUP_SCHEMA],
    "patch-op": [PATCH_OP],
    "not-a-list": USER_SCHEMA,
    "not-strings": [{"urn": USER_SCHEMA}],
}
WRONG_GROUP_SCHEMAS = {
    "user-schema": [USER_SCHEMA],
    "no-schemas": None,
    "group-and-enterprise-user": [GROUP_SCHEMA, ENTERPRISE],
    "group-and-user": [GROUP_SCHEMA, USER_SCHEMA],
}


def with_schemas(body: dict, schemas) -> dict:
    return body if schemas is None else {"schemas": schemas, **body}


@pytest.mark.parametrize("schemas", WRONG_USER_SCHEMAS.values(), ids=WRONG_USER_SCHEMAS.keys())
def test_post_user_with_another_resources_schema_creates_nothing(scim, schemas):
    response = scim.post("/Users", with_schemas({"userName": "wrong@acme.example", "displayName": "x"}, schemas))

    assert_error(response, 400, "invalidValue", "invalidSyntax")
    assert not User.objects.filter(email__iexact="wrong@acme.example").exists()


@pytest.mark.parametrize("schemas", WRONG_USER_SCHEMAS.values(), ids=WRONG_USER_SCHEMAS.keys())
def test_put_user_with_another_resources_schema_changes_nothing(scim, schemas):
    doc = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "keep@acme.example", "title": "AE"}).json()

    response = scim.put(f"/Users/{doc['id']}", with_schemas({"userName": "keep@acme.example", "title": "CFO"},
                                                            schemas))

    assert_error(response, 400, "invalidValue", "invalidSyntax")
    assert User.objects.get(pk=doc["id"]).title == "AE"


@pytest.mark.parametrize("schemas", WRONG_GROUP_SCHEMAS.values(), ids=WRONG_GROUP_SCHEMAS.keys())
def test_post_and_put_group_with_another_resources_schema_change_nothing(scim, schemas):
    response = scim.post("/Groups", with_schemas({"displayName": "Wrong Team", "userName": "x@acme.example"},
                                                  schemas))
    assert_error(response, 400, "invalidValue", "invalidSyntax")
    assert not Team.objects.filter(name="Wrong Team").exists()

    group = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Right Team"}).json()
    response = scim.put(f"/Groups/{group['id']}", with_schemas({"displayName": "Renamed"}, schemas))
    assert_error(response, 400, "invalidValue", "invalidSyntax")
    assert Team.objects.get(name="Right Team")


@pytest.mark.parametrize("schemas", [
    [USER_SCHEMA], [USER_SCHEMA, ENTERPRISE], [ENTERPRISE, USER_SCHEMA.upper()],
    # An IdP's own extension (Entra's "CustomExtensionName"): tolerated, its attributes ignored.
    [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"],
])
def test_user_schemas_an_idp_may_send_are_accepted(scim, schemas):
    response = scim.post("/Users", {"schemas": schemas, "userName": "ok@acme.example"})

    assert response.status_code == 201, response.content


# --- Ids, paging and values: checked before any query ----------------------------------------


@pytest.mark.parametrize("uuid", ["²", "١٢", "99999999999999999999", "9223372036854775808", "-1", "0", "1e5",
                                  "%00", "team-1", "1.0"])
def test_a_path_id_that_cannot_be_a_user_is_404(scim, uuid):
    for response in (scim.get(f"/Users/{uuid}"), scim.delete(f"/Users/{uuid}"),
                     scim.put(f"/Users/{uuid}", {"schemas": [USER_SCHEMA], "userName": "x@acme.example"}),
                     scim.patch(f"/Users/{uuid}", {"schemas": [PATCH_OP], "Operations": [
                         {"op": "replace", "path": "title", "value": "x"}]})):
        assert_error(response, 404)


@pytest.mark.parametrize("uuid", ["team-²", "team-99999999999999999999", "team--1", "²", "team-", "Team-1x"])
def test_a_path_id_that_cannot_be_a_team_is_404(scim, uuid):
    assert_error(scim.get(f"/Groups/{uuid}"), 404)
    assert_error(scim.delete(f"/Groups/{uuid}"), 404)


def test_member_and_manager_ids_that_cannot_be_users_are_400(scim, scim_org):
    user = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "m@acme.example"}).json()
    for value in ("²", "99999999999999999999", "-3", True, {"x": 1}):
        response = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Team X",
                                         "members": [{"value": value}]})
        assert_error(response, 400, "invalidValue")
        response = scim.patch(f"/Users/{user['id']}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": value}}]})
        assert_error(response, 400, "invalidValue")
    assert not Team.objects.filter(name="Team X").exists()


def test_a_start_index_past_the_end_is_an_empty_page(scim, rep_user):
    """It reached the database as an OFFSET SQLite refused ("datatype mismatch")."""
    for start in ("99999999999999999999", "9223372036854775807", str(10**40), "7" * 5000):
        response = scim.get("/Users", {"startIndex": start})
        body = response.json()
        assert response.status_code == 200, body
        assert (body["totalResults"], body["itemsPerPage"], body["Resources"]) == (1, 0, [])
    body = scim.post("/Users/.search", {"schemas": [SEARCH], "startIndex": 10**30, "count": 10**30}).json()
    assert (body["totalResults"], body["Resources"]) == (1, [])
    body = scim.post("/.search", {"schemas": [SEARCH], "startIndex": 10**30}).json()
    assert body["Resources"] == []


@pytest.mark.parametrize(("params", "start", "per_page"), [
    ({"startIndex": "0"}, 1, 2), ({"startIndex": "-5"}, 1, 2),       # below 1 means 1 (RFC 7644 §3.4.2.4)
    ({"count": "-1"}, 1, 0), ({"count": "0"}, 1, 0),                # negative means 0: totalResults only
    ({"count": "1"}, 1, 1), ({"startIndex": "2", "count": "5"}, 2, 1),
    ({"count": "99999999999999999999"}, 1, 2),                      # capped at maxResults
    ({"startIndex": "", "count": ""}, 1, 2), ({"startIndex": "+2"}, 2, 1),
])
def test_paging_follows_rfc_7644(scim, rep_user, admin_user, params, start, per_page):
    body = scim.get("/Users", params).json()

    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (2, start, per_page)
    assert len(body["Resources"]) == per_page


@pytest.mark.parametrize("value", ["abc", "1.5", "1e3", "0x10", "²", "--1", "1 2"])
def test_paging_values_that_are_not_integers_are_400(scim, rep_user, value):
    for name in ("startIndex", "count"):
        assert_error(scim.get("/Users", {name: value}), 400, "invalidValue")
        assert_error(scim.get("/Groups", {name: value}), 400, "invalidValue")


@pytest.mark.parametrize("value", [1.5, True, [1], {"n": 1}, "x"])
def test_search_paging_values_that_are_not_integers_are_400(scim, value):
    for path in ("/Users/.search", "/Groups/.search", "/.search"):
        assert_error(scim.post(path, {"schemas": [SEARCH], "startIndex": value}), 400, "invalidValue")
        assert_error(scim.post(path, {"schemas": [SEARCH], "count": value}), 400, "invalidValue")


def test_text_with_nul_characters_is_400(scim):
    """PostgreSQL refuses NUL in text: a 400 here, not a database error there."""
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "nul@acme.example", "title": "A\x00B"})
    assert_error(response, 400, "invalidValue")
    assert_error(scim.get("/Users", {"filter": 'title eq "A\x00B"'}), 400, "invalidFilter")


@pytest.mark.parametrize("body", [
    {"userName": "u" * 256},
    {"userName": "long@acme.example", "emails": [{"value": "e" * 250 + "@acme.example"}]},
    {"userName": "long@acme.example", "manager_email": "m" * 250 + "@acme.example"},
])
def test_text_longer_than_chorus_keeps_is_400(scim, body):
    """SQLite stores it anyway; PostgreSQL would refuse it with a database error."""
    assert_error(scim.post("/Users", {"schemas": [USER_SCHEMA], **body}), 400, "invalidValue")
    assert not User.objects.exists()


# --- chorus_role and chorus_license_type: optional, with the defaults Settings > SSO states ------


def test_schema_says_role_and_licence_are_optional_and_names_the_defaults(scim):
    user = next(s for s in scim.get("/Schemas").json()["Resources"] if s["id"] == USER_SCHEMA)
    attrs = {a["name"]: a for a in user["attributes"]}

    assert attrs["chorus_role"]["required"] is False
    assert attrs["chorus_license_type"]["required"] is False
    assert DEFAULT_ROLE in attrs["chorus_role"]["description"]
    assert DEFAULT_LICENSE in attrs["chorus_license_type"]["description"]
    assert attrs["userName"]["required"] is True


@pytest.mark.parametrize("fixture", ["jumpcloud", "azure-default-mapping"])
def test_a_user_sent_without_role_or_licence_gets_the_documented_defaults(scim, fixture):
    """The seed's JumpCloud steps map neither; Entra's default mappings neither."""
    body = {"schemas": [USER_SCHEMA], "userName": f"{fixture}@acme.example", "active": True,
            "name": {"givenName": "No", "familyName": "Mapping"}}

    doc = scim.post("/Users", body).json()

    assert (doc["chorus_role"], doc["chorus_license_type"]) == (DEFAULT_ROLE, DEFAULT_LICENSE)
    user = User.objects.get(pk=doc["id"])
    assert (user.role.name, user.license_type) == (DEFAULT_ROLE, DEFAULT_LICENSE)


def test_leaving_them_out_of_an_update_keeps_them_and_removing_them_gives_the_defaults(scim):
    doc = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "lead@acme.example", "chorus_role": "Admin",
                               "chorus_license_type": "listener"}).json()

    put = scim.put(f"/Users/{doc['id']}", {"schemas": [USER_SCHEMA], "userName": "lead@acme.example",
                                           "title": "VP"}).json()
    assert (put["chorus_role"], put["chorus_license_type"], put["title"]) == ("Admin", "listener", "VP")

    removed = scim.patch(f"/Users/{doc['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "remove", "path": "chorus_role"}, {"op": "remove", "path": "chorus_license_type"}]}).json()
    assert (removed["chorus_role"], removed["chorus_license_type"]) == (DEFAULT_ROLE, DEFAULT_LICENSE)


def test_the_adapter_defaults_are_the_ones_chorus_provisions_with(org):
    from chorus.services import user_provision

    user = user_provision(org=org, email="plain@acme.example")

    assert (user.role.name, user.license_type) == (DEFAULT_ROLE, DEFAULT_LICENSE)
