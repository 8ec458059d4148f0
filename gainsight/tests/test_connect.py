"""Settings > Integrations > Gainsight Integration > Add: the form, the check of the
Access Key against (a fake of) Gainsight, the Salesforce prerequisite."""

import pytest
from django.core.exceptions import ValidationError
from django.utils.html import escape

from chorus.models import AuditEvent
from gainsight.services import DOMAIN_INVALID, KEY_REFUSED, NEEDS_SALESFORCE, gainsight_domain_normalize
from integrations.models import Connection, ConnectionStatus

URL = "/settings/integrations/gainsight/"
PAGE = "/settings/integrations/"


@pytest.mark.parametrize("value", ["acme", "ACME", " acme ", "acme.gainsightcloud.com",
                                   "https://acme.gainsightcloud.com/", "https://acme.gainsightcloud.com"])
def test_domain_name_is_reduced_to_name(value):
    assert gainsight_domain_normalize(value) == "acme"


@pytest.mark.parametrize("value", ["https://acme.example.com/", "acme.gainsight.com", "https://acme.gainsightcloud.com/v1",
                                   "ac me", "https://a.b.gainsightcloud.com/", "https://acme.gainsightcloud.com:8443/",
                                   "-acme", "acme_1", "https://acme.gainsightcloud.com/?x=1"])
def test_other_domain_names_are_refused(value):
    with pytest.raises(ValidationError) as exc:
        gainsight_domain_normalize(value)
    assert exc.value.messages == [DOMAIN_INVALID]


def test_submit_checks_the_key_and_saves_it_encrypted(admin_client, admin_user, salesforce, gainsight):
    response = admin_client.post(URL, {"access_key": gainsight.access_key, "domain": "https://acme.gainsightcloud.com/"})
    assert response.status_code == 302
    conn = Connection.objects.get(org=salesforce.org, provider="gainsight")
    assert conn.status == ConnectionStatus.OK and conn.config == {"domain": "acme"}
    assert conn.secrets == {"access_key": gainsight.access_key}
    probe = gainsight.calls("query")[0]
    assert probe["headers"]["Accesskey"] == gainsight.access_key
    assert probe["body"] == {"select": ["Gsid"], "limit": 1, "offset": 0}
    assert AuditEvent.objects.filter(org=salesforce.org, action="gainsight.connected", actor=admin_user).exists()
    page = admin_client.get(PAGE).content.decode()
    assert "https://acme.gainsightcloud.com/" in page and gainsight.access_key not in page

    admin_client.post(URL + "remove/")
    assert Connection.objects.get(pk=conn.pk).status == ConnectionStatus.DISCONNECTED
    assert AuditEvent.objects.filter(org=salesforce.org, action="gainsight.disconnected").exists()


def test_a_refused_key_saves_nothing(admin_client, salesforce, gainsight):
    response = admin_client.post(URL, {"access_key": "wrong-key", "domain": "acme"})
    assert response.status_code == 422
    body = response.content.decode()
    assert escape(KEY_REFUSED) in body and "wrong-key" not in body
    assert not Connection.objects.filter(provider="gainsight").exists()


def test_an_unreachable_tenant_saves_nothing(admin_client, salesforce, settings):
    settings.GAINSIGHT_URL_TEMPLATE = "https://127.0.0.1:1/{domain}"
    response = admin_client.post(URL, {"access_key": "k" * 20, "domain": "acme"})
    assert response.status_code == 422
    assert "Chorus could not reach acme.gainsightcloud.com" in response.content.decode()
    assert not Connection.objects.filter(provider="gainsight").exists()


def test_field_errors(admin_client, salesforce, gainsight):
    response = admin_client.post(URL, {"access_key": "", "domain": "https://acme.example.com/x"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "Enter the Access Key." in body and escape(DOMAIN_INVALID) in body
    assert gainsight.requests == []


def test_without_salesforce_add_is_disabled_and_post_refused(admin_client, enterprise, gainsight):
    page = admin_client.get(PAGE).content.decode()
    assert escape(NEEDS_SALESFORCE) in page
    response = admin_client.post(URL, {"access_key": gainsight.access_key, "domain": "acme"})
    assert response.status_code == 422 and escape(NEEDS_SALESFORCE) in response.content.decode()
    assert gainsight.requests == [] and not Connection.objects.filter(provider="gainsight").exists()


def test_enterprise_only(admin_client, org):
    assert "Enterprise package only" in admin_client.get(PAGE).content.decode()
    assert admin_client.post(URL, {"access_key": "x", "domain": "acme"}).status_code == 403


def test_reps_cannot_connect(rep_client, salesforce):
    assert rep_client.post(URL, {"access_key": "x", "domain": "acme"}).status_code == 403
