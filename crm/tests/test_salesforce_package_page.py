"""Settings > Integrations > Install Salesforce Package: who may open it (org admins of an
org whose Salesforce is connected), what it says (the seed's steps, the canvas URL, the
namespace, whether the canvas secret is set — never its value), the package source
download, and the CRM Connect button that opens it."""

from __future__ import annotations

import html
import io
import json
import zipfile

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from crm.providers.salesforce.connect import provider as salesforce
from crm.views_package import LIGHTNING_COMPONENT
from integrations.models import Connection
from testutils.factories import UserFactory, role

pytestmark = pytest.mark.usefixtures("only_crm_sections")

PAGE = "/settings/integrations/salesforce/package/"
DOWNLOAD = "/settings/integrations/salesforce/package/download/"


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.CHORUS_BASE_URL = "https://chorus.test"
    settings.SALESFORCE_CANVAS_SECRET = ""


def connect(org, provider="salesforce", **config):
    return Connection.objects.create(org=org, provider=provider, status="ok", config={
        "crm_org_id": f"00D{org.slug}", "instance_url": f"https://{org.slug}.my.salesforce.com",
        "crm_org_name": f"{org.name} Inc", **config}, secrets={"access_token": "A"})


def flashes(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_urls():
    assert reverse("crm-salesforce-package") == PAGE
    assert reverse("crm-salesforce-package-download") == DOWNLOAD


@pytest.mark.django_db
def test_an_admin_sees_the_steps_and_what_to_give_salesforce(org, admin_client, settings):
    connect(org)
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "<title>Install Salesforce Package" in page
    for heading in ("Install the Chorus for Salesforce Managed Package",
                    "Configure permissions before setting up the Chorus iFrame/Lightning Component",
                    "Create a New Lightning Component", "Add a Chorus App Tab",
                    "Assign Permission Sets for Chorus Custom Objects",
                    "Connect Chorus Custom Objects to Salesforce Reports", "Access Chorus Pre-Built Reports",
                    "Deploy Custom Report Types", "Add Chorus Custom Objects to Opportunities and Contacts",
                    "Sync Chorus Trackers with Salesforce"):
        assert heading in page, heading
    for text in ("Install for All Users", "Yes, grant access to these third-party websites",
                 "Admin approved users are pre-authorized", "Manage profiles", "The iFrame cannot be configured "
                 "on the Contacts page", "Chorus Admin", "ChorusSyncService", "Allow Reports", "ChorusReports",
                 "Account_Opportunities_with_engagement", "Opportunity With Engagement", "Opportunity_With_Moment",
                 "Chorus Competitor", 'IF (CONTAINS (Chorus_Competitor__c "Your competitor name")',
                 "Download package source (.zip)"):
        assert text in page, text
    # The seed's Chorus.cmp, exactly.
    assert LIGHTNING_COMPONENT.format(namespace="affectlayer") in page.replace("<wbr>", "")
    assert 'namespacePrefix="affectlayer"' in page and 'developerName="AffectLayer_Notes"' in page
    # For your Salesforce admin.
    assert 'value="https://chorus.test/integrations/salesforce/canvas/"' in page
    assert "<code>affectlayer</code>" in page and "Not configured" in page
    assert "https://acme.my.salesforce.com" in page and "Acme Inc" in page
    assert reverse("settings-integrations") in page  # the breadcrumb


@pytest.mark.django_db
def test_the_canvas_secret_is_said_to_be_set_never_shown(org, admin_client, settings):
    settings.SALESFORCE_CANVAS_SECRET = "s3cr3t-consumer-secret-value"
    connect(org)
    page = admin_client.get(PAGE).content.decode()
    assert "Configured" in page and "Not configured" not in page
    assert "s3cr3t-consumer-secret-value" not in page
    settings.SALESFORCE_CANVAS_SECRET = ""  # the default: not configured
    assert "Not configured" in admin_client.get(PAGE).content.decode()


@pytest.mark.django_db
def test_members_get_403(org, rep_client):
    connect(org)
    assert rep_client.get(PAGE).status_code == 403
    assert rep_client.get(DOWNLOAD).status_code == 403


@pytest.mark.django_db
def test_signed_out_goes_to_login(org, client):
    connect(org)
    for url in (PAGE, DOWNLOAD):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["none", "hubspot", "disconnected", "needs_reconnect"])
def test_without_a_connected_salesforce_it_sends_the_admin_back(org, admin_client, state):
    if state == "hubspot":
        connect(org, provider="hubspot")
    elif state == "disconnected":
        Connection.objects.filter(pk=connect(org).pk).update(status="disconnected")
    elif state == "needs_reconnect":
        connect(org, needs_reconnect=True)
    for url in (PAGE, DOWNLOAD):
        response = admin_client.get(url)
        assert response.status_code == 302
        assert response["Location"] == reverse("settings-integrations") + "#crm-connect"
        (message,) = flashes(response)
        assert "Salesforce" in message and "CRM Connect" in message and "package" in message
        # Shown on Settings > Integrations, once.
        page = html.unescape(admin_client.get(response["Location"]).content.decode())
        assert page.count(message) == 1


@pytest.mark.django_db
def test_another_orgs_admin_sees_their_own_state_only(org, other_org, client):
    connect(org)
    globex_admin = UserFactory(org=other_org, email="admin@globex.example", role=role(other_org, "Admin"))
    client.force_login(globex_admin)
    # Acme's Salesforce is connected; Globex's is not: Globex's admin is sent back.
    assert client.get(PAGE).status_code == 302
    assert client.get(DOWNLOAD).status_code == 302
    connect(other_org)
    page = client.get(PAGE).content.decode()
    assert "https://globex.my.salesforce.com" in page and "Globex Inc" in page
    assert "acme" not in page.lower()


@pytest.mark.django_db
def test_the_download_is_the_package_source_with_this_chorus_canvas_url(org, admin_client):
    connect(org)
    response = admin_client.get(DOWNLOAD)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="chorus-salesforce-package.zip"'
    assert "no-store" in response["Cache-Control"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert "sfdx-project.json" in names
        project = json.loads(zf.read("sfdx-project.json"))
        assert project.get("namespace") == "affectlayer"
        contents = b"".join(zf.read(n) for n in names)
    assert b"https://chorus.test/integrations/salesforce/canvas/" in contents
    assert b"__CHORUS_CANVAS_URL__" not in contents


@pytest.mark.django_db
def test_crm_connect_opens_the_page_in_the_same_tab(org, admin_client):
    connect(org)
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    link = f'<a class="btn btn-primary" href="{PAGE}">Install Salesforce Package</a>'
    assert link in page
    assert "appexchange" not in page


@pytest.mark.django_db
def test_no_button_while_salesforce_needs_reconnecting(org, admin_client):
    connect(org, needs_reconnect=True)
    assert "Install Salesforce Package" not in admin_client.get(reverse("settings-integrations")).content.decode()


def test_the_push_names_the_page_absolutely(settings):
    settings.CHORUS_BASE_URL = "https://chorus.test"
    assert salesforce.package_url == "https://chorus.test" + PAGE
