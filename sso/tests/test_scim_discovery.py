"""ServiceProviderConfig, Schemas and ResourceTypes as discovery clients read them."""

import pytest

pytestmark = pytest.mark.django_db

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_service_provider_config_tells_the_truth(scim):
    body = scim.get("/ServiceProviderConfig").json()

    assert body["patch"]["supported"] is True
    assert body["filter"] == {"supported": True, "maxResults": 200}
    assert body["bulk"]["supported"] is False
    assert body["changePassword"]["supported"] is False
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_schemas_list_has_total_and_custom_attributes(scim):
    body = scim.get("/Schemas").json()

    assert body["totalResults"] == len(body["Resources"]) == 3
    user = next(s for s in body["Resources"] if s["id"] == CORE)
    attrs = {a["name"]: a for a in user["attributes"]}
    assert attrs["chorus_license_type"]["canonicalValues"] == ["recorder", "listener"]
    assert "Rep (AE/Other)" in attrs["chorus_role"]["canonicalValues"]
    assert "manager_email" in attrs
    single = scim.get(f"/Schemas/{ENTERPRISE}").json()
    assert single["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Schema"]


def test_resource_types_have_relative_endpoints(scim):
    body = scim.get("/ResourceTypes").json()

    assert body["totalResults"] == 2
    assert {r["id"]: r["endpoint"] for r in body["Resources"]} == {"User": "/Users", "Group": "/Groups"}
    assert scim.get("/ResourceTypes/User").json()["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]


def test_count_is_capped_and_bad_paging_is_400(scim):
    assert scim.get("/Users", {"count": 100000}).status_code == 200
    response = scim.get("/Users", {"startIndex": "abc"})
    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"
