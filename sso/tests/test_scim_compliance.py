"""scim2-tester against /api/scim/v2/, in-process through scim2-client's WSGI engine."""

import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server, get_all_available_tags

from sso.scim.adapters import DEFAULT_LICENSE, DEFAULT_ROLE

pytestmark = pytest.mark.django_db

# chorus_role and chorus_license_type are optional with defaults (Settings > SSO says
# so). Every Chorus user has a role and a licence, so removing one gives the user the
# default again and the answer shows it; scim2-tester expects a removed optional
# attribute to be absent. That, and only that, is allowed to differ.
DEFAULTED = {"chorus_role": DEFAULT_ROLE, "chorus_license_type": DEFAULT_LICENSE}


def _defaulted_on_remove(result) -> bool:
    data = result.data or {}
    name = str(data.get("urn", "")).rsplit(":", 1)[-1]
    return (result.title == "check_remove_attribute" and name in DEFAULTED
            and data.get("modify_actual") == DEFAULTED[name])


@pytest.fixture
def wsgi_app():
    """The real WSGI handler, minus the per-request connection close that Django's
    own test client also switches off (it would close the test transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_scim2_tester_every_tag_succeeds(wsgi_app, scim_token, rep_user):
    client = WSGISCIMClient(
        wsgi_app,
        base_url="http://testserver/api/scim/v2",
        headers={"Authorization": f"Bearer {scim_token}"},
    )
    client.discover()
    results = check_server(client, raise_exceptions=False, include_tags=get_all_available_tags())

    # Every tag runs; none is excluded, and no check may come back SKIPPED.
    assert len(results) > 50
    failures = [f"{r.status.name} {r.title}: {r.reason}" for r in results
                if r.status != Status.SUCCESS and not _defaulted_on_remove(r)]
    assert not failures, "\n".join(failures)
