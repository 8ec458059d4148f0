"""The ``scim_token`` support command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from sso.models import ScimToken

pytestmark = pytest.mark.django_db


def _last_line(out: StringIO) -> str:
    return out.getvalue().strip().splitlines()[-1]


def test_scim_token_issues_access_and_prints_the_token_last(org):
    out = StringIO()

    call_command("scim_token", "acme", stdout=out)

    raw = _last_line(out)
    token = ScimToken.objects.get(org=org)
    assert token.token_hash != raw and raw.startswith(token.prefix)
    response = Client().get("/api/scim/v2/Users", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    org.refresh_from_db()
    assert org.scim_provisioning_allowed


def test_scim_token_no_activate_leaves_the_org_off(org):
    out = StringIO()

    call_command("scim_token", "acme", "--no-activate", stdout=out, stderr=StringIO())

    response = Client().get("/api/scim/v2/Users", HTTP_AUTHORIZATION=f"Bearer {_last_line(out)}")
    assert response.status_code == 403


def test_scim_token_for_unknown_org_fails(db):
    with pytest.raises(CommandError):
        call_command("scim_token", "nope", stdout=StringIO())
