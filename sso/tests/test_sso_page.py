"""Settings > SSO: the SAML fields with their validation, the values to copy, and
SCIM provisioning (support's switch, the admin's switch, bearer tokens)."""

import hashlib
import re

import pytest

from chorus.models import AuditEvent
from sso.models import SamlConfig, ScimSettings, ScimToken
from sso.saml.configure import saml_config_update
from sso.saml.idp_metadata import certificates_parse
from sso.saml.relay_state import relay_state_encode
from sso.saml.sp import sp_values
from sso.scim.adapters import DEFAULT_LICENSE, DEFAULT_ROLE
from sso.scim.provisioning import scim_provisioning_active, scim_provisioning_set
from sso.tokens import scim_token_authenticate, scim_token_create

URL = "/settings/sso/"
TENANT = "738b610e-619f-4e65-89b0-47b1acf3f9aa"



def saml_form(**overrides):
    data = {"action": "saml", "provider": "generic", "customer_url": "", "app_id": "", "secondary_id": "",
            "idp_entity_id": "", "certificate": "", "metadata_url": "", "metadata_xml": ""}
    data.update(overrides)
    return data


@pytest.fixture
def scim_allowed(org):
    org.scim_provisioning_allowed = True
    org.save(update_fields=["scim_provisioning_allowed"])
    return org


@pytest.fixture
def scim_on(scim_allowed, admin_user):
    scim_provisioning_set(org=scim_allowed, actor=admin_user, enabled=True)
    return scim_allowed


# --- Access ---------------------------------------------------------------------------------------


def test_non_admin_gets_403(rep_client):
    assert rep_client.get(URL).status_code == 403
    assert rep_client.post(URL, saml_form(customer_url="https://evil.example")).status_code == 403
    assert rep_client.post(URL, {"action": "token_create", "name": "x"}).status_code == 403
    assert not SamlConfig.objects.exists() and not ScimToken.objects.exists()


def test_anonymous_is_sent_to_login(client, db):
    resp = client.get(URL)
    assert resp.status_code == 302 and resp["Location"].startswith("/login/")


def test_page_shows_the_values_to_copy(admin_client):
    body = admin_client.get(URL).content.decode()
    sp = sp_values()
    for value in (sp["entity_id"], sp["acs_url"], sp["metadata_url"], relay_state_encode("/")):
        assert value in body
    assert "cmVkaXJlY3Q9JTJG" in body  # redirect=%2F…
    assert "SAML Customer Url" in body and "Tenant ID (Azure)" in body and "Certificate (Base64)" in body


def test_unknown_action_is_a_400(admin_client):
    assert admin_client.post(URL, {"action": "drop_tables"}).status_code == 400


# --- SAML fields ----------------------------------------------------------------------------------


def test_certificate_that_does_not_parse_is_a_field_error_and_nothing_is_lost(admin_client, org):
    bad_cert = "-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----"
    data = saml_form(customer_url="https://idp.example/sso", app_id="exk1", certificate=bad_cert)
    resp = admin_client.post(URL, data)
    assert resp.status_code == 400
    form = resp.context["saml_form"]
    assert "certificate" in form.errors and "could not be read" in form.errors["certificate"][0]
    body = resp.content.decode()
    assert 'value="https://idp.example/sso"' in body and 'value="exk1"' in body and "not a cert" in body
    assert not SamlConfig.objects.filter(org=org).exists()


@pytest.mark.parametrize("xml", ["<html><body>hello</body></html>", "not xml at all <",
                                 '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                                 'entityID="https://sp.example"><md:SPSSODescriptor/></md:EntityDescriptor>',
                                 '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'])
def test_metadata_that_is_not_saml_idp_metadata_is_a_field_error(admin_client, org, xml):
    resp = admin_client.post(URL, saml_form(metadata_xml=xml))
    assert resp.status_code == 400
    assert "not SAML identity provider metadata" in resp.context["saml_form"].errors["metadata_xml"][0]
    assert not SamlConfig.objects.filter(org=org).exists()


def test_azure_tenant_id_must_be_a_guid(admin_client, org):
    user_access_url = f"https://myapps.microsoft.com/signin/x?tenantId={TENANT}"
    resp = admin_client.post(URL, saml_form(provider="azure", app_id=user_access_url))
    assert resp.status_code == 400
    assert "Tenant ID" in resp.context["saml_form"].errors["app_id"][0]
    assert not SamlConfig.objects.filter(org=org).exists()


def test_azure_fields_from_the_seed_mapping(admin_client, org, saml_idp):
    idp = saml_idp("unused", key="azure")
    resp = admin_client.post(URL, saml_form(
        provider="azure", app_id=TENANT, secondary_id="e2ebfa19-a345-4a88-b368-bcf1f34b0fa1",
        certificate=idp.cert_pem, enabled="on",
        metadata_url=f"https://login.microsoftonline.com/{TENANT}/federationmetadata/2007-06/federationmetadata.xml",
    ))
    assert resp.status_code == 302
    assert "Chorus uses the certificate you entered." in admin_client.get(URL).content.decode()  # no network here
    config = SamlConfig.objects.get(org=org)
    assert config.enabled and config.provider == "azure"
    assert config.idp_entity_id == f"https://sts.windows.net/{TENANT}/"
    assert config.customer_url == f"https://login.microsoftonline.com/{TENANT}/saml2"
    assert AuditEvent.objects.filter(org=org, action="sso.saml_configured").exists()
    page = admin_client.get(URL).content.decode()
    assert "SAML sign-in on" in page and "Test IdP azure" in page


def test_metadata_xml_import_fills_entity_id_sso_url_and_certificate(admin_client, org, saml_idp):
    idp = saml_idp("http://www.okta.com/exkIMPORT", key="a", sso_url="https://acme.okta.com/app/chorus/sso/saml")
    resp = admin_client.post(URL, saml_form(provider="okta", metadata_xml=idp.metadata_xml(), enabled="on"))
    assert resp.status_code == 302
    config = SamlConfig.objects.get(org=org)
    assert config.idp_entity_id == "http://www.okta.com/exkIMPORT"
    assert config.customer_url == "https://acme.okta.com/app/chorus/sso/saml"
    assert certificates_parse(config.certificate)[0].subject.rfc4514_string() == "CN=Test IdP a"
    assert config.enabled
    flash = admin_client.get(URL).content.decode()
    assert "filled from the metadata" in flash


def test_enabling_needs_entity_id_sso_url_and_certificate(admin_client, org):
    resp = admin_client.post(URL, saml_form(customer_url="https://idp.example/sso", enabled="on"))
    assert resp.status_code == 400
    assert "IdP Entity ID" in resp.context["saml_form"].errors["enabled"][0]


def test_an_idp_entity_id_cannot_serve_two_orgs(admin_client, org, other_org, saml_idp, connect_idp):
    idp = saml_idp("https://shared-idp.example")
    connect_idp(other_org, idp)
    resp = admin_client.post(URL, saml_form(metadata_xml=idp.metadata_xml()))
    assert resp.status_code == 400
    assert "another Chorus organization" in resp.context["saml_form"].errors["idp_entity_id"][0]


# --- SCIM -----------------------------------------------------------------------------------------


def test_scim_section_documents_the_custom_attributes_and_their_defaults(admin_client):
    """chorus_role and chorus_license_type are optional with defaults: the page says
    so in the words /Schemas uses, before provisioning is even activated."""
    body = admin_client.get(URL).content.decode()
    table = body[body.index('data-testid="scim-attributes"'):]
    table = table[:table.index("</table>")]
    rows = {cells[0]: cells[1:] for cells in (
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", table)) if cells}
    assert set(rows) == {"chorus_role", "chorus_license_type", "manager_email"}
    assert rows["chorus_role"][0] == f"Optional · default {DEFAULT_ROLE}"
    assert rows["chorus_license_type"][0] == f"Optional · default {DEFAULT_LICENSE}"
    assert "an update that leaves it out keeps the current role" in rows["chorus_role"][1]


def test_scim_needs_support_activation_first(admin_client, org):
    body = admin_client.get(URL).content.decode()
    assert "SCIM provisioning is not activated" in body and "Enable provisioning" not in body
    resp = admin_client.post(URL, {"action": "scim", "enabled": "1"})
    assert resp.status_code == 400
    assert not scim_provisioning_active(org=org)
    assert admin_client.post(URL, {"action": "token_create", "name": "Okta"}).status_code == 400
    assert not ScimToken.objects.exists()


def test_enable_provisioning_then_generate_tokens_shown_once_and_hashed(admin_client, scim_allowed):
    org = scim_allowed
    assert "Enable provisioning" in admin_client.get(URL).content.decode()
    assert admin_client.post(URL, {"action": "scim", "enabled": "1"}).status_code == 302
    assert scim_provisioning_active(org=org)
    assert ScimSettings.objects.get(org=org).enabled

    first = admin_client.post(URL, {"action": "token_create", "name": "Okta"})
    assert first.status_code == 200 and "no-store" in first["Cache-Control"]
    raw = first.context["new_token"]
    assert raw in first.content.decode()
    token = ScimToken.objects.get(org=org)
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (token.prefix, token.name, token.token_hash)
    assert raw not in admin_client.get(URL).content.decode()  # shown once
    assert sp_values()["scim_base_url"] in first.content.decode()

    second = admin_client.post(URL, {"action": "token_create", "name": "Okta (rotation)"}).context["new_token"]
    assert second != raw
    assert scim_token_authenticate(raw=raw) and scim_token_authenticate(raw=second)  # both work: rotation


def test_revoke_a_token(admin_client, scim_on, admin_user):
    token, raw = scim_token_create(org=scim_on, created_by=admin_user, name="Okta")
    keep, keep_raw = scim_token_create(org=scim_on, created_by=admin_user, name="Azure")
    resp = admin_client.post(URL, {"action": "token_revoke", "token": str(token.pk)})
    assert resp.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert scim_token_authenticate(raw=raw) is None and scim_token_authenticate(raw=keep_raw) is not None
    assert admin_client.post(URL, {"action": "token_revoke", "token": str(token.pk)}).status_code == 404


def test_another_orgs_token_id_is_a_404(admin_client, scim_on, other_org):
    theirs, raw = scim_token_create(org=other_org, name="theirs")
    assert admin_client.post(URL, {"action": "token_revoke", "token": str(theirs.pk)}).status_code == 404
    assert admin_client.post(URL, {"action": "token_revoke", "token": "abc"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert "theirs" not in admin_client.get(URL).content.decode()


def test_turn_provisioning_off(admin_client, scim_on):
    assert admin_client.post(URL, {"action": "scim", "enabled": "0"}).status_code == 302
    assert not scim_provisioning_active(org=scim_on)
    assert "Enable provisioning" in admin_client.get(URL).content.decode()


# --- Metadata Url ---------------------------------------------------------------------------------


@pytest.fixture
def metadata_server(settings, tls_ca, tls_ca_file):
    """An identity provider's HTTPS metadata endpoint, local (real addresses must be public)."""
    from testutils.servers import https_server

    settings.SAML_METADATA_ALLOW_PRIVATE, settings.REQUESTS_CA_BUNDLE = True, tls_ca_file
    server = https_server(tls_ca)
    yield server
    server.clear()
    server.stop()


def test_metadata_url_is_read_and_fills_the_fields(admin_client, org, saml_idp, metadata_server):
    """Azure's App Federation Metadata Url, fetched when the admin saves."""
    idp = saml_idp(f"https://sts.windows.net/{TENANT}/", sso_url=f"https://login.microsoftonline.com/{TENANT}/saml2")
    path = f"/{TENANT}/federationmetadata/2007-06/federationmetadata.xml"
    metadata_server.expect_request(path, query_string="appid=e2ebfa19").respond_with_data(
        idp.metadata_xml(), content_type="application/xml")
    url = metadata_server.url_for(path) + "?appid=e2ebfa19"
    resp = admin_client.post(URL, saml_form(provider="azure", metadata_url=url, enabled="on"))
    assert resp.status_code == 302, resp.content.decode()
    config = SamlConfig.objects.get(org=org)
    assert (config.metadata_url, config.idp_entity_id, config.enabled) == (url, f"https://sts.windows.net/{TENANT}/",
                                                                           True)
    assert config.customer_url == f"https://login.microsoftonline.com/{TENANT}/saml2"
    assert certificates_parse(config.certificate)[0].subject.rfc4514_string() == "CN=Test IdP a"
    assert "filled from the metadata" in admin_client.get(URL).content.decode()


@pytest.mark.parametrize("url,message", [
    ("http://login.example/metadata.xml", "https://"),
    ("https://127.0.0.1/metadata.xml", "private network"),
    ("https://169.254.169.254/latest/meta-data", "private network"),
    ("https://[::1]/metadata", "private network"),
])
def test_metadata_urls_inside_chorus_are_never_fetched(admin_client, org, url, message):
    resp = admin_client.post(URL, saml_form(metadata_url=url))
    assert resp.status_code == 400
    assert message in resp.context["saml_form"].errors["metadata_url"][0]
    assert not SamlConfig.objects.filter(org=org).exists()


def test_a_metadata_url_that_is_not_metadata_is_explained(admin_client, org, metadata_server):
    metadata_server.expect_request("/gone").respond_with_data("", status=404)
    metadata_server.expect_request("/page").respond_with_data("<html>Sign in</html>", content_type="text/html")
    metadata_server.expect_request("/huge").respond_with_data("<x/>" * 300_000, content_type="application/xml")
    for path, message in (("/gone", "answered HTTP 404"), ("/page", "not SAML identity provider metadata"),
                          ("/huge", "larger than 1 MB")):
        resp = admin_client.post(URL, saml_form(metadata_url=metadata_server.url_for(path)))
        assert resp.status_code == 400, path
        assert message in resp.context["saml_form"].errors["metadata_url"][0], path
    assert not SamlConfig.objects.filter(org=org).exists()


def test_daily_refresh_takes_a_rolled_over_certificate_and_keeps_what_works(org, saml_idp, metadata_server):
    from integrations.scheduler import scheduler_run_inline
    from sso.saml.idp_metadata import SAML_METADATA_JOB
    from sso.tasks import saml_metadata_refresh_task

    def refresh() -> int:  # the daily tick's task for this org's configuration, run here
        return sum(r["changed"] for r in scheduler_run_inline(SAML_METADATA_JOB).values())

    old = saml_idp("http://www.okta.com/exkROLL", key="a")
    new = saml_idp("http://www.okta.com/exkROLL", key="b")
    metadata_server.expect_oneshot_request("/metadata").respond_with_data(old.metadata_xml())
    saml_config_update(org=org, actor=None, data={"provider": "okta", "enabled": True,
                                                       "metadata_url": metadata_server.url_for("/metadata")})
    config = SamlConfig.objects.get(org=org)
    assert certificates_parse(config.certificate)[0].subject.rfc4514_string() == "CN=Test IdP a"
    metadata_server.expect_oneshot_request("/metadata").respond_with_data("", status=503)
    assert saml_metadata_refresh_task()["queued"] == 1  # the tick: one task per configuration
    assert refresh() == 0  # unreachable today: the certificate that works stays
    metadata_server.expect_oneshot_request("/metadata").respond_with_data(new.metadata_xml())
    assert refresh() == 1
    config.refresh_from_db()
    assert certificates_parse(config.certificate)[0].subject.rfc4514_string() == "CN=Test IdP b"
    assert AuditEvent.objects.filter(org=org, action="sso.saml_certificate_rolled_over").count() == 1
    other = saml_idp("https://evil.example/idp", key="c")
    metadata_server.expect_oneshot_request("/metadata").respond_with_data(other.metadata_xml())
    assert refresh() == 0  # another identity provider: not taken
    config.refresh_from_db()
    assert config.idp_entity_id == "http://www.okta.com/exkROLL"
