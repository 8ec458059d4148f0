"""The pure parts of sso.saml: metadata as each IdP exports it, certificates,
RelayState, the email in a Response, and configure_saml on real-shaped files."""

import base64
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT, NameID

from sso.models import SamlConfig
from sso.saml.acs import saml_email_from
from sso.saml.idp_metadata import certificates_parse, certificates_pem, idp_metadata_parse, idp_metadata_xml
from sso.saml.relay_state import RelayTarget, relay_state_encode, relay_state_target
from sso.saml.sp import sp_config

FIXTURES = Path(__file__).parent / "fixtures" / "saml"
TENANT = "738b610e-619f-4e65-89b0-47b1acf3f9aa"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("name", "entity_id", "sso_url", "subject"), [
    ("okta_metadata.xml", "http://www.okta.com/exk1a2b3c4d5e6f7g8h9",
     "https://acme.okta.com/app/acme_chorus_1/exk1a2b3c4d5e6f7g8h9/sso/saml", "CN=acme"),
    ("azure_federationmetadata.xml", f"https://sts.windows.net/{TENANT}/",
     f"https://login.microsoftonline.com/{TENANT}/saml2", "CN=Microsoft Azure Federated SSO Certificate"),
    ("jumpcloud_metadata.xml", "jumpcloud-acme", "https://sso.jumpcloud.com/saml2/chorus-acme", "CN=JumpCloud"),
])
def test_idp_metadata_as_each_idp_exports_it(name, entity_id, sso_url, subject):
    meta = idp_metadata_parse((FIXTURES / name).read_text())
    assert (meta.entity_id, meta.sso_url) == (entity_id, sso_url)
    assert [c.subject.rfc4514_string() for c in meta.certificates] == [subject]  # Azure's duplicate folded


@pytest.mark.django_db
def test_configure_saml_with_azure_federation_metadata(org, capsys):
    call_command("configure_saml", "acme", "--metadata-file", str(FIXTURES / "azure_federationmetadata.xml"),
                 "--provider", "azure")
    config = SamlConfig.objects.get(org=org)
    assert config.provider == "azure" and config.enabled
    assert config.idp_entity_id == f"https://sts.windows.net/{TENANT}/"
    assert "SAML for acme" in capsys.readouterr().out
    # The IdP metadata pysaml2 gets is built from the stored fields.
    assert sp_config(idp_metadata=idp_metadata_xml(config)).metadata.certs(
        config.idp_entity_id, "any", "signing")


def test_certificate_as_bare_base64_pem_or_several_pems():
    body = idp_metadata_parse((FIXTURES / "okta_metadata.xml").read_text()).certificates[0]
    pem = certificates_pem([body])
    bare = "".join(pem.strip().splitlines()[1:-1])
    assert certificates_parse(bare)[0] == body
    assert len(certificates_parse(pem + "\n" + pem)) == 2
    for bad in ("hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "-----BEGIN RSA"):
        with pytest.raises(ValidationError):
            certificates_parse(bad)


@pytest.mark.parametrize(("relay_state", "target"), [
    ("cmVkaXJlY3Q9Lw==", "/"),                                    # the seed's "redirect=/"
    ("cmVkaXJlY3Q9JTJGbXktcHJvZmlsZSUzRg==", "/settings/personal/"),  # the seed's Azure example: /my-profile?
    (b64("redirect=%2Fmy-profile%2F"), "/settings/personal/"),
    ("cmVkaXJIY3Q9Lw==", "/"),                                    # the seed's JumpCloud typo: redirHct=/
    ("", "/"), (None, "/"), ("!!!", "/"), (b64("nothing"), "/"), (b64("redirect="), "/"),
    ("/recordings/", "/recordings/"),
    (b64("redirect=%2Fdeals%2F%3Fq%3D1"), "/deals/?q=1"),
    (b64("redirect=%2Frecordings%2F%3Fq%3Da%2520b"), "/recordings/?q=a%20b"),  # encoded query kept as sent
])
def test_relay_state_target(relay_state, target):
    assert relay_state_target(relay_state) == RelayTarget(target)


@pytest.mark.parametrize("relay_state", [
    b64("redirect=https%3A%2F%2Fevil.example%2F"), b64("redirect=%2F%2Fevil.example"),
    b64("redirect=%2F%5Cevil.example"), b64("redirect=%2F%0D%0ASet-Cookie%3A%20x"),
    b64("redirect=javascript%3Aalert(1)"), b64("redirect=https%3Aevil.example"),
    b64("redirect=%2F%252F%252Fevil.example"), b64("redirect=%2F%09%2Fevil.example"),
    "https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example", "https:evil.example",
    "HTTPS://evil.example", "/%2F%2Fevil.example", "/%5Cevil.example", "/\t/evil.example", "/\n/evil.example",
    "https://chorus.ai.evil.example/", "https://chorus.ai@evil.example/", "http://chorus.ai/recordings/",
    "javascript:alert(1)", pytest.param("/" + "x" * 5000, id="longer-than-4096"),
])
def test_relay_state_leading_off_site_lands_on_home_and_says_so(relay_state, settings):
    settings.CHORUS_BASE_URL = "https://chorus.ai"
    assert relay_state_target(relay_state) == RelayTarget("/", refused=True)


def test_relay_state_round_trip():
    for path in ("/", "/recordings/?owner=1&page=2", "/deals/#x"):
        assert relay_state_target(relay_state_encode(path)) == RelayTarget(path)


@pytest.mark.parametrize(("session_info", "email"), [
    ({"ava": {"Email": ["a@acme.example"]}}, "a@acme.example"),
    ({"ava": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": ["b@acme.example"]}},
     "b@acme.example"),
    ({"ava": {"mail": ["not an email", "c@acme.example"]}}, "c@acme.example"),
    ({"ava": {}, "name_id": NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="d@acme.example")}, "d@acme.example"),
    ({"ava": {}, "name_id": NameID(format=NAMEID_FORMAT_PERSISTENT, text="e@acme.example")}, None),
    ({"ava": {"Name": ["f@acme.onmicrosoft.com"]}, "name_id": NameID(format=NAMEID_FORMAT_PERSISTENT,
                                                                        text="9f8e7d6c")}, None),
])
def test_email_from_a_response(session_info, email):
    assert saml_email_from(session_info) == email
