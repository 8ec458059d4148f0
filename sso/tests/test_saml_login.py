"""SAML sign-in at /login/saml with real Responses signed by a pysaml2 IdP (see
testutils/saml_idp.py). Every refusal: a 403 page that says why, no session, no 500."""

import base64
import datetime as dt
import uuid
import zlib
from urllib.parse import parse_qs, quote, urlparse

import pytest
from django.core.management import CommandError, call_command
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT

from chorus.models import User
from sso.models import SamlConfig, UsedAssertion
from sso.saml.configure import saml_config_update
from sso.saml.relay_state import relay_state_decode, relay_state_encode
from sso.saml.sp import sp_acs_url, sp_entity_id
from sso.tests.conftest import USER_SCHEMA
from testutils.factories import UserFactory

OKTA = "http://www.okta.com/exk1chorusacme"
AZURE_TENANT = "738b610e-619f-4e65-89b0-47b1acf3f9aa"
AZURE = f"https://sts.windows.net/{AZURE_TENANT}/"
JUMPCLOUD = "jumpcloud-acme"
CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"



def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_signed_in(client, user):
    assert client.session.get("_auth_user_id") == str(user.pk)


def assert_refused(resp, client, text: str):
    assert resp.status_code == 403, resp.content[:500]
    assert "_auth_user_id" not in client.session
    body = resp.content.decode()
    assert 'data-testid="saml-error"' in body
    assert text in body


@pytest.fixture
def okta(org, saml_idp, connect_idp):
    idp = saml_idp(OKTA)
    connect_idp(org, idp, "okta")
    return idp


# --- Valid logins, shaped like each IdP -------------------------------------------------------------


@pytest.mark.django_db
def test_okta_shaped_login_by_email_attribute_case_insensitive(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(
        email="REP@Acme.Example",
        attributes={"Email": ["REP@Acme.Example"], "FirstName": ["Rey"], "LastName": ["Rep"]},
    ), relay_state=relay_state_encode("/recordings/"))
    assert resp.status_code == 302
    assert resp["Location"] == "/recordings/"
    assert_signed_in(client, rep_user)
    assert client.get("/recordings/").status_code == 200


@pytest.mark.django_db
def test_okta_login_by_email_name_id_without_attributes(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(email=rep_user.email, attributes={}))
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert_signed_in(client, rep_user)


@pytest.mark.django_db
@pytest.mark.parametrize("email_claim", ["Email", CLAIMS + "emailaddress"])
def test_azure_shaped_login_with_opaque_name_id(org, rep_user, saml_idp, admin_user, acs_post, client, email_claim):
    """Azure: configured from the seed's fields (tenant id → issuer), only the
    assertion signed, a persistent opaque NameID, email in a claim."""
    idp = saml_idp(AZURE, key="azure")
    saml_config_update(org=org, actor=admin_user, data={
        "provider": "azure", "app_id": AZURE_TENANT, "secondary_id": "e2ebfa19-a345-4a88-b368-bcf1f34b0fa1",
        "certificate": idp.cert_pem, "enabled": True,
    })
    config = SamlConfig.objects.get(org=org)
    assert config.idp_entity_id == AZURE
    assert config.customer_url == f"https://login.microsoftonline.com/{AZURE_TENANT}/saml2"
    resp = acs_post(idp.response(
        name_id=str(uuid.uuid4()), name_id_format=NAMEID_FORMAT_PERSISTENT,
        attributes={email_claim: ["rep@acme.example"], CLAIMS + "givenname": ["Rey"], CLAIMS + "surname": ["Rep"],
                    CLAIMS + "name": ["rey.rep@acmecorp.onmicrosoft.com"]},
    ), relay_state="cmVkaXJlY3Q9JTJGbXktcHJvZmlsZSUzRg==")  # the seed's Azure example: redirect=%2Fmy-profile%3F
    assert resp.status_code == 302
    assert resp["Location"] == "/settings/personal/"  # /my-profile is Personal Settings now
    assert_signed_in(client, rep_user)
    assert client.get(resp["Location"]).status_code == 200


@pytest.mark.django_db
def test_jumpcloud_shaped_login(org, rep_user, saml_idp, connect_idp, acs_post, client):
    """JumpCloud: the seed's SP Entity ID is the ACS URL (so that is the audience),
    response and assertion signed, the seed's default RelayState (which decodes to
    ``redirHct=/``) lands on /."""
    idp = saml_idp(JUMPCLOUD, key="jc")
    connect_idp(org, idp, "jumpcloud")
    resp = acs_post(idp.response(
        email="rep@acme.example", audience=sp_acs_url(), sign_response=True,
        attributes={"Email": ["rep@acme.example"], "FirstName": ["Rey"], "LastName": ["Rep"]},
    ), relay_state="cmVkaXJIY3Q9Lw==")
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert_signed_in(client, rep_user)


# --- Names from the Response (seed: Azure's and JumpCloud's FirstName / LastName) ------------------


def _azure(org, saml_idp, admin_user):
    idp = saml_idp(AZURE, key="azure")
    saml_config_update(org=org, actor=admin_user, data={
        "provider": "azure", "app_id": AZURE_TENANT, "certificate": idp.cert_pem, "enabled": True})
    return idp


def _provisioned_without_a_name(scim, email):
    """What SCIM makes of an IdP that maps no name (JumpCloud's or Entra's defaults can)."""
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": email, "emails": [{"value": email}]})
    assert response.status_code == 201 and "name" not in response.json()
    return User.objects.get(pk=response.json()["id"])


NAME_CLAIMS = {
    # The seed's Azure claims "with the namespace removed", and JumpCloud's attributes.
    "seed-names": ("FirstName", "LastName"),
    # Azure's default claims (the seed's "Before" screenshot).
    "azure-claim-uris": (CLAIMS + "givenname", CLAIMS + "surname"),
    # Okta's own profile names, and LDAP-style names.
    "okta-profile-names": ("firstName", "lastName"),
    "ldap-names": ("givenName", "sn"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("claims", NAME_CLAIMS.values(), ids=NAME_CLAIMS.keys())
def test_first_sign_in_fills_the_name_scim_did_not_send(org, scim, saml_idp, admin_user, acs_post, client, claims):
    user = _provisioned_without_a_name(scim, "nina@acme.example")
    idp = _azure(org, saml_idp, admin_user)
    first, last = claims
    resp = acs_post(idp.response(name_id=str(uuid.uuid4()), name_id_format=NAMEID_FORMAT_PERSISTENT, attributes={
        "Email": ["nina@acme.example"], first: ["Nina"], last: ["Nguyen"], "Name": ["nina@acme.onmicrosoft.com"]}))
    assert resp.status_code == 302
    assert_signed_in(client, user)
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Nina", "Nguyen")
    assert scim.get(f"/Users/{user.pk}").json()["name"] == {"givenName": "Nina", "familyName": "Nguyen"}


@pytest.mark.django_db
def test_jumpcloud_and_okta_names_fill_an_empty_name(org, scim, saml_idp, connect_idp, acs_post, client):
    jumpcloud = saml_idp(JUMPCLOUD, key="jc")
    connect_idp(org, jumpcloud, "jumpcloud")
    user = _provisioned_without_a_name(scim, "jo@acme.example")
    acs_post(jumpcloud.response(email=user.email, audience=sp_acs_url(), sign_response=True, attributes={
        "Email": [user.email], "FirstName": ["Jo"], "LastName": ["Jumper"]}))
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Jo", "Jumper")


@pytest.mark.django_db
def test_sign_in_never_overwrites_the_name_scim_set(org, scim, saml_idp, admin_user, acs_post, client):
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "sam@acme.example",
                                    "name": {"givenName": "Samantha", "familyName": "Okafor"}})
    user = User.objects.get(pk=response.json()["id"])
    idp = _azure(org, saml_idp, admin_user)
    acs_post(idp.response(email=user.email, attributes={
        "Email": [user.email], "FirstName": ["Sam"], "LastName": ["O."]}))
    assert_signed_in(client, user)
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Samantha", "Okafor")


@pytest.mark.django_db
def test_only_the_first_sign_in_names_the_user(org, scim, saml_idp, admin_user, acs_post, client):
    """Once named, the user keeps that name (SCIM, not SAML, updates people)."""
    user = _provisioned_without_a_name(scim, "ana@acme.example")
    idp = _azure(org, saml_idp, admin_user)
    acs_post(idp.response(email=user.email, attributes={"Email": [user.email], "FirstName": ["Ana"]}))
    client.logout()
    acs_post(idp.response(email=user.email, attributes={
        "Email": [user.email], "FirstName": ["Anastasia"], "LastName": ["Lee"]}))
    assert_signed_in(client, user)
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Ana", "")


@pytest.mark.django_db
def test_signed_response_with_unsigned_assertion_is_enough(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(email=rep_user.email, sign_assertion=False, sign_response=True))
    assert resp.status_code == 302
    assert_signed_in(client, rep_user)


@pytest.mark.django_db
def test_clock_skew_of_two_minutes_is_tolerated(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(email=rep_user.email, shift=dt.timedelta(minutes=2)))
    assert resp.status_code == 302
    assert_signed_in(client, rep_user)


@pytest.mark.django_db
def test_relay_state_to_a_local_path_and_own_origin(okta, rep_user, acs_post, client):
    relay_state = b64("redirect=" + quote("/deals/?stage=won", safe=""))
    resp = acs_post(okta.response(email=rep_user.email), relay_state=relay_state)
    assert resp["Location"] == "/deals/?stage=won"
    client.logout()
    resp = acs_post(okta.response(email=rep_user.email), relay_state=b64("redirect=" + quote(
        sp_entity_id() + "/recordings/", safe="")))
    assert resp["Location"] == "/recordings/"


# --- Refusals ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tampered_response_is_refused(okta, rep_user, admin_user, acs_post, client):
    tampered = okta.response(email=rep_user.email, mutate=lambda xml: xml.replace(rep_user.email, admin_user.email))
    assert_refused(acs_post(tampered), client, "could not verify")


@pytest.mark.django_db
def test_unsigned_response_is_refused(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(email=rep_user.email, sign_assertion=False, sign_response=False))
    assert_refused(resp, client, "could not verify")


@pytest.mark.django_db
def test_response_signed_with_another_key_is_refused(okta, rep_user, saml_idp, acs_post, client):
    impostor = saml_idp(OKTA, key="impostor")  # same entity id, its own key
    assert_refused(acs_post(impostor.response(email=rep_user.email)), client, "could not verify")
    impostor_both = impostor.response(email=rep_user.email, sign_response=True)
    assert_refused(acs_post(impostor_both), client, "could not verify")


@pytest.mark.django_db
def test_wrong_audience_is_refused(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(email=rep_user.email, audience="https://other-sp.example/saml"))
    assert_refused(resp, client, "could not verify")


@pytest.mark.django_db
def test_wrong_destination_is_refused(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(email=rep_user.email, destination="https://other-sp.example/acs"))
    assert_refused(resp, client, "could not verify")


@pytest.mark.django_db
def test_expired_response_is_refused(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(email=rep_user.email, shift=dt.timedelta(minutes=-10)))
    assert_refused(resp, client, "expired")


@pytest.mark.django_db
def test_future_dated_response_is_refused(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(email=rep_user.email, shift=dt.timedelta(minutes=10)))
    assert_refused(resp, client, "expired")


@pytest.mark.django_db
def test_replayed_response_is_refused(okta, rep_user, acs_post, client):
    response = okta.response(email=rep_user.email)
    assert acs_post(response).status_code == 302
    assert UsedAssertion.objects.count() == 1
    client.logout()
    assert_refused(acs_post(response), client, "already used")


@pytest.mark.django_db
def test_sha1_signature_is_refused(okta, rep_user, acs_post, client):
    assert_refused(acs_post(okta.response(email=rep_user.email, sha1=True)), client, "outdated algorithm")


@pytest.mark.django_db
def test_cross_tenant_idp_a_cannot_sign_in_org_b_user(org, other_org, saml_idp, connect_idp, acs_post, client):
    idp_a, idp_b = saml_idp(OKTA, key="a"), saml_idp("https://idp.globex.example", key="b")
    connect_idp(org, idp_a)
    connect_idp(other_org, idp_b)
    globex_user = UserFactory(org=other_org, email="gina@globex.example")
    # IdP A (Acme's) asserts Globex's user: looked up in Acme only.
    assert_refused(acs_post(idp_a.response(email=globex_user.email)), client,
                   "no Chorus user gina@globex.example in Acme")
    # IdP A claims to be IdP B: verified against B's certificate, fails.
    forged = idp_a.response(email=globex_user.email, issuer=idp_b.entity_id)
    assert_refused(acs_post(forged), client, "could not verify")
    # Response Issuer A, assertion Issuer B: refused before any certificate is chosen.
    mixed = idp_a.response(email=globex_user.email, mutate=lambda xml: xml.replace(
        f">{OKTA}</ns1:Issuer><ns2:Signature", f">{idp_b.entity_id}</ns1:Issuer><ns2:Signature"))
    assert_refused(acs_post(mixed), client, "not set up")
    # And IdP B itself signs Globex's user in.
    assert acs_post(idp_b.response(email=globex_user.email)).status_code == 302
    assert_signed_in(client, globex_user)


OFF_SITE_TARGETS = [
    "https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example", "/\\/evil.example",
    "/\t/evil.example", "/\n/evil.example", "\t//evil.example", "/%2F%2Fevil.example", "/%5Cevil.example",
    "https:evil.example", "https:/evil.example", "HTTPS://evil.example", "javascript:alert(1)",
    "https://chorus.ai.evil.example/", "https://evil.example\\@chorus.ai/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("encoded", [True, False], ids=["seed-format", "raw"])
@pytest.mark.parametrize("target", OFF_SITE_TARGETS)
def test_relay_state_off_site_signs_in_and_lands_on_home_with_a_notice(okta, rep_user, acs_post, client,
                                                                       target, encoded):
    """A misconfigured IdP default must not lock people out: the signed Response is
    good, so the person is signed in, lands on the home page and is told why."""
    relay_state = b64("redirect=" + quote(target, safe="")) if encoded else target
    resp = acs_post(okta.response(email=rep_user.email), relay_state=relay_state)
    assert resp.status_code == 302, resp.content[:300]
    assert resp["Location"] == "/"
    assert_signed_in(client, rep_user)
    home = client.get(resp["Location"], follow=True)
    assert home.status_code == 200
    assert "asked to open a page outside Chorus" in home.content.decode()
    assert all("evil" not in url for url, _ in home.redirect_chain)


@pytest.mark.django_db
def test_relay_state_to_chorus_shows_no_notice(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(email=rep_user.email), relay_state=relay_state_encode("/deals/"))
    assert resp["Location"] == "/deals/"
    assert "outside Chorus" not in client.get("/deals/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("relay_state", ["cmVkaXJIY3Q9Lw==", "%%%not-base64", b64("\x00\xff"), b64("goto=/deals/")])
def test_unparsable_relay_state_lands_on_home(okta, rep_user, acs_post, client, relay_state):
    resp = acs_post(okta.response(email=rep_user.email), relay_state=relay_state)
    assert resp.status_code == 302 and resp["Location"] == "/"


@pytest.mark.django_db
def test_unprovisioned_user_gets_a_clear_page(okta, acs_post, client):
    assert_refused(acs_post(okta.response(email="newhire@acme.example")), client,
                   "There is no Chorus user newhire@acme.example in Acme")


@pytest.mark.django_db
def test_deactivated_user_gets_a_clear_page(okta, rep_user, acs_post, client):
    rep_user.is_active = False
    rep_user.save(update_fields=["is_active"])
    assert_refused(acs_post(okta.response(email=rep_user.email)), client, "is deactivated")


@pytest.mark.django_db
def test_opaque_name_id_is_never_used_as_email(okta, rep_user, acs_post, client):
    resp = acs_post(okta.response(name_id=rep_user.email, name_id_format=NAMEID_FORMAT_TRANSIENT, attributes={}))
    assert_refused(resp, client, "did not send an email address")


@pytest.mark.django_db
def test_unknown_or_disabled_idp_is_refused(okta, org, rep_user, saml_idp, acs_post, client):
    stranger = saml_idp("https://stranger.example", key="s")
    assert_refused(acs_post(stranger.response(email=rep_user.email)), client, "not set up")
    SamlConfig.objects.filter(org=org).update(enabled=False)
    assert_refused(acs_post(okta.response(email=rep_user.email)), client, "not set up")


@pytest.mark.django_db
@pytest.mark.parametrize("garbage", [
    "not base64 at all!", b64("<foo/>"), b64("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"), "",
])
def test_garbage_is_refused_without_500(okta, acs_post, client, garbage):
    resp = acs_post(garbage)
    assert resp.status_code in (400, 403)
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_acs_get_sends_to_sso_login(client):
    resp = client.get("/login/saml")
    assert resp.status_code == 302 and resp["Location"] == "/login/sso/"


# --- SP metadata and SP-initiated login ---------------------------------------------------------------


@pytest.mark.django_db
def test_sp_metadata(client):
    resp = client.get("/login/saml/metadata")
    assert resp.status_code == 200
    body = resp.content.decode()
    assert f'entityID="{sp_entity_id()}"' in body
    assert f'Location="{sp_acs_url()}"' in body


@pytest.mark.django_db
def test_sp_initiated_login_by_email_domain(okta, rep_user, acs_post, client):
    page = client.get("/login/sso/?next=/deals/")
    assert page.status_code == 200
    resp = client.post("/login/sso/", {"email": "Rep@ACME.example", "next": "/deals/"})
    assert resp.status_code == 302
    url = urlparse(resp["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == okta.sso_url
    query = parse_qs(url.query)
    assert relay_state_decode(query["RelayState"][0]) == "/deals/"
    request_xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
    assert sp_acs_url() in request_xml and sp_entity_id() in request_xml
    request_id = request_xml.split(' ID="', 1)[1].split('"', 1)[0]
    # The IdP answers the request; the browser posts the answer back.
    answer = okta.response(email=rep_user.email, in_response_to=request_id)
    done = acs_post(answer, relay_state=query["RelayState"][0])
    assert done.status_code == 302 and done["Location"] == "/deals/"
    assert_signed_in(client, rep_user)


@pytest.mark.django_db
def test_sp_initiated_login_unknown_domain(okta, client):
    resp = client.post("/login/sso/", {"email": "someone@elsewhere.example"})
    assert resp.status_code == 400
    assert "not set up for this email domain" in resp.content.decode()


@pytest.mark.django_db
def test_sp_initiated_login_ignores_foreign_next(okta, client):
    resp = client.post("/login/sso/", {"email": "rep@acme.example", "next": "https://evil.example/"})
    query = parse_qs(urlparse(resp["Location"]).query)
    assert relay_state_decode(query["RelayState"][0]) == "/"


@pytest.mark.django_db
def test_login_page_links_to_sso(client):
    assert "/login/sso/" in client.get("/login/").content.decode()


# --- configure_saml -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_configure_saml_command(org, saml_idp, tmp_path, capsys):
    idp = saml_idp(JUMPCLOUD, key="jc")
    path = tmp_path / "metadata.xml"
    path.write_text(idp.metadata_xml())
    call_command("configure_saml", "acme", "--metadata-file", str(path), "--provider", "jumpcloud")
    config = SamlConfig.objects.get(org=org)
    assert (config.provider, config.idp_entity_id, config.enabled) == ("jumpcloud", JUMPCLOUD, True)
    assert config.customer_url == idp.sso_url
    assert "-----BEGIN CERTIFICATE-----" in config.certificate
    assert JUMPCLOUD in capsys.readouterr().out
    # Running it again with the same file is fine.
    call_command("configure_saml", "acme", "--metadata-file", str(path))
    bad = tmp_path / "bad.xml"
    bad.write_text("<html>not metadata</html>")
    with pytest.raises(CommandError, match="not SAML identity provider metadata"):
        call_command("configure_saml", "acme", "--metadata-file", str(bad))
    with pytest.raises(CommandError, match="No organization"):
        call_command("configure_saml", "nope", "--metadata-file", str(path))
