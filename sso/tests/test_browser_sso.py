"""Settings > SSO in a real browser, as the seed tells an admin to do it: fill the
SAML settings from the identity provider's metadata, turn SCIM provisioning on and
generate a token; then a user signs in through SAML, the browser carrying the
AuthnRequest to a test IdP (pysaml2, served by pytest-httpserver on another
origin) and auto-posting its signed Response back to /login/saml."""

import base64
import zlib
from html import escape
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from playwright.sync_api import expect
from werkzeug import Response

from chorus.models import Organization
from sso.models import SamlConfig
from sso.tokens import scim_token_authenticate
from testutils.browser import login, screenshot
from testutils.factories import UserFactory, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
OKTA = "http://www.okta.com/exkBrowserAcme"


def auto_post(acs_url: str, saml_response: str, relay_state: str) -> str:
    """What an IdP returns to the browser: a form that posts itself to the ACS."""
    return (
        "<!doctype html><html><body><p>Signing you in…</p>"
        f'<form method="post" action="{escape(acs_url)}">'
        f'<input type="hidden" name="SAMLResponse" value="{escape(saml_response)}">'
        f'<input type="hidden" name="RelayState" value="{escape(relay_state)}">'
        "</form><script>document.forms[0].submit()</script></body></html>"
    )


@pytest.fixture
def sso_setup(live_server, settings, org, httpserver, saml_idp):
    settings.CHORUS_BASE_URL = live_server.url
    org.scim_provisioning_allowed = True
    org.package = Organization.Package.ENTERPRISE
    org.save()
    admin = UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace",
                        role=role(org, "Admin"), password=PASSWORD)
    rep = UserFactory(org=org, email="rey@acme.example", first_name="Rey", last_name="Rep")
    # The IdP lives on another origin than Chorus (127.0.0.1 vs localhost): a real cross-site POST.
    sso_url = httpserver.url_for("/app/chorus/sso/saml").replace("localhost", "127.0.0.1")
    idp = saml_idp(OKTA, key="browser", sso_url=sso_url)
    signed_in = []

    def idp_sso(request):
        """The IdP's SSO endpoint (HTTP-Redirect binding): the user is already
        signed in at the IdP, so it answers the AuthnRequest at once."""
        authn_request = zlib.decompress(base64.b64decode(request.args["SAMLRequest"]), -15).decode()
        request_id = authn_request.split(' ID="', 1)[1].split('"', 1)[0]
        email = signed_in[-1]
        saml_response = idp.response(email=email, in_response_to=request_id,
                                     attributes={"Email": [email], "FirstName": ["Rey"], "LastName": ["Rep"]})
        html = auto_post(f"{live_server.url}/login/saml", saml_response, request.args.get("RelayState", ""))
        return Response(html, content_type="text/html")

    def idp_tile(request):
        """The Chorus tile in the IdP's portal (IdP-initiated): no AuthnRequest, and
        whatever RelayState the IdP admin set as the app's default."""
        email = signed_in[-1]
        saml_response = idp.response(email=email, attributes={"Email": [email]})
        html = auto_post(f"{live_server.url}/login/saml", saml_response, request.args.get("relay", ""))
        return Response(html, content_type="text/html")

    httpserver.expect_request("/app/chorus/sso/saml").respond_with_handler(idp_sso)
    httpserver.expect_request("/app/chorus/tile").respond_with_handler(idp_tile)
    tile_url = httpserver.url_for("/app/chorus/tile").replace("localhost", "127.0.0.1")
    return {"admin": admin, "rep": rep, "idp": idp, "signed_in_at_idp": signed_in, "tile_url": tile_url}


def test_admin_configures_sso_from_metadata_then_a_user_signs_in(page, _browser, live_server, sso_setup, org):
    idp, admin = sso_setup["idp"], sso_setup["admin"]

    # The admin: Settings > SSO, fill the SAML settings from the IdP's metadata.
    login(page, live_server.url, admin.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="SSO", exact=True).click()
    expect(page.get_by_role("heading", name="SSO", exact=True)).to_be_visible()
    expect(page.get_by_test_id("sp-acs-url")).to_have_text(f"{live_server.url}/login/saml")
    saml_card = page.locator("#saml")
    # Choosing a provider shows its set-up steps; Azure's include the seed's mapping table.
    saml_card.get_by_label("Identity provider").select_option("azure")
    expect(saml_card.get_by_role("cell", name="App Federation Metadata Url")).to_be_visible()
    saml_card.scroll_into_view_if_needed()
    screenshot(page, "sso_azure_help")
    saml_card.get_by_label("Identity provider").select_option("okta")
    expect(saml_card.get_by_role("cell", name="App Federation Metadata Url")).to_be_hidden()
    expect(saml_card.get_by_text("Audience URI (SP Entity ID)")).to_be_visible()
    saml_card.get_by_label("Metadata XML").fill("<html>oops, the wrong file</html>")
    saml_card.get_by_label("Turn on SAML sign-in for this organization").check()
    saml_card.get_by_role("button", name="Save SAML settings").click()
    expect(saml_card.get_by_role("alert")).to_contain_text("not SAML identity provider metadata")
    expect(saml_card.get_by_label("Identity provider")).to_have_value("okta")  # nothing lost

    saml_card.get_by_label("Metadata XML").fill(idp.metadata_xml())
    saml_card.get_by_role("button", name="Save SAML settings").click()
    expect(page.get_by_role("status").first).to_contain_text("filled from the metadata")
    expect(saml_card.get_by_label("IdP Entity ID (Issuer)")).to_have_value(OKTA)
    expect(saml_card.get_by_label("SAML Customer Url")).to_have_value(idp.sso_url)
    expect(saml_card.get_by_test_id("certificates")).to_contain_text("CN=Test IdP browser")
    expect(saml_card.get_by_text("SAML sign-in on")).to_be_visible()
    assert SamlConfig.objects.get(org=org).enabled

    # SCIM: enable provisioning (support activated it) and generate a token.
    scim_card = page.locator("#scim")
    scim_card.get_by_role("button", name="Enable provisioning").click()
    expect(scim_card.get_by_test_id("scim-base-url")).to_have_text(f"{live_server.url}/api/scim/v2")
    scim_card.get_by_label("Token name").fill("Okta")
    scim_card.get_by_role("button", name="Generate token").click()
    token = scim_card.get_by_test_id("new-scim-token").inner_text().strip()
    found = scim_token_authenticate(raw=token)
    assert found is not None and found.org_id == org.pk
    expect(scim_card.get_by_role("cell", name="Okta", exact=True)).to_be_visible()
    page.locator("#service-provider").scroll_into_view_if_needed()
    screenshot(page, "sso_settings")

    # A user signs in through SAML (SP-initiated): login page > Log in with SSO.
    context = _browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    user_page = context.new_page()
    sso_setup["signed_in_at_idp"].append("Rey@Acme.example")
    user_page.goto(f"{live_server.url}/recordings/")
    user_page.get_by_role("link", name="Log in with SSO").click()
    user_page.get_by_label("Work email").fill("rey@acme.example")
    user_page.get_by_role("button", name="Continue").click()
    expect(user_page.get_by_role("heading", name="Recordings", exact=True)).to_be_visible()
    expect(user_page.get_by_text("Rey Rep")).to_be_visible()
    assert urlparse(user_page.url).netloc == urlparse(live_server.url).netloc

    # Someone the IdP knows but SCIM never provisioned: a clear page, no session.
    other = context.new_page()
    context.clear_cookies()
    sso_setup["signed_in_at_idp"].append("newhire@acme.example")
    other.goto(f"{live_server.url}/login/sso/")
    other.get_by_label("Work email").fill("newhire@acme.example")
    other.get_by_role("button", name="Continue").click()
    expect(other.get_by_role("heading", name="You don't have a Chorus account yet")).to_be_visible()
    screenshot(other, "sso_refused")
    other.goto(f"{live_server.url}/recordings/")
    assert parse_qs(urlparse(other.url).query).get("next") == ["/recordings/"]  # not signed in

    # The IdP tile's default RelayState points off-site (here "/\\evil.example", which a
    # browser reads as another host): the user is signed in, stays on Chorus, and is told.
    sso_setup["signed_in_at_idp"].append("rey@acme.example")
    for relay_state in ("/\\evil.example", "https://evil.example/"):
        context.clear_cookies()
        tile = context.new_page()
        tile.goto(f"{sso_setup['tile_url']}?{urlencode({'relay': relay_state})}")
        expect(tile.get_by_role("status")).to_contain_text("asked to open a page outside Chorus")
        expect(tile.get_by_text("Rey Rep")).to_be_visible()
        assert urlparse(tile.url).netloc == urlparse(live_server.url).netloc
    screenshot(tile, "sso_relay_state_off_site")
    # The seed's Azure default RelayState (/my-profile?) opens Personal Settings.
    tile.goto(f"{sso_setup['tile_url']}?{urlencode({'relay': 'cmVkaXJlY3Q9JTJGbXktcHJvZmlsZSUzRg=='})}")
    expect(tile).to_have_url(f"{live_server.url}/settings/personal/")
    context.close()
