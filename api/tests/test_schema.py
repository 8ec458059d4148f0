"""The OpenAPI schema, the docs page, and a property-based run over the schema:
no 5xx and no answer that breaks the schema (schemathesis)."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.tests.conftest import full_engagement, make_api_org, make_token
from testutils.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_schema_is_public_openapi_3_and_declares_the_errors(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["personalToken"] == {
        "type": "http", "scheme": "bearer",
        "description": "A personal API token from Personal Settings (`Token <token>` works too)."}
    ours = {p: ops for p, ops in schema["paths"].items() if "/zapier/" not in p}
    assert set(ours) == {"/api/v1/me/", "/api/v1/engagements/", "/api/v1/engagements/{id}/", "/api/v1/accounts/",
                         "/api/v1/accounts/{id}/", "/api/v1/opportunities/", "/api/v1/opportunities/{id}/"}
    for path, ops in ours.items():
        codes = set(ops["get"]["responses"])
        assert {"200", "401", "403", "429"} <= codes, path
        assert ("404" if "{id}" in path else "400") in codes or path == "/api/v1/me/"
    params = {p["name"] for p in schema["paths"]["/api/v1/engagements/"]["get"]["parameters"]}
    assert params == {"started_after", "started_before", "owner", "account", "opportunity", "kind",
                      "updated_since", "cursor", "page_size"}


def test_docs_page_serves_its_assets_locally(client):
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert client.get("/api/v1/redoc/").status_code == 200


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def api_schema(db):
    """The live schema over the WSGI app, with data for each route to find."""
    org = make_api_org("acme")
    user = UserFactory(org=org, email="rep@acme.example")
    for _ in range(2):
        full_engagement(org, owner=user)
    other = make_api_org("globex")
    full_engagement(other, owner=UserFactory(org=other))
    token = make_token(user)
    # Like Django's test client: keep the test's connection (and its transaction)
    # open across requests instead of closing it when each request finishes.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    loaded = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    loaded.config.update(headers={"Authorization": f"Bearer {token}"})
    yield loaded
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_server_error_and_schema_conformance(case):
    # Every check but "schema-valid data is accepted": a cursor is an opaque string in
    # the schema, and a made-up one is rightly a 400 (invalid_cursor).
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
