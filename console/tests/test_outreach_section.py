"""Settings > Integrations > Sync Outreach and Chorus: the seed's prerequisites and
procedure, the tile URL to give Outreach, and the admins' switch of the Chorus tile
(audited; members read it; another org's switch is its own)."""

from __future__ import annotations

import html

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from chorus.models import AuditEvent
from console import outreach
from integrations import registry
from integrations.models import Connection
from testutils.factories import UserFactory, role

SWITCH = "/settings/integrations/outreach/"


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.CHORUS_BASE_URL = "https://chorus.test"


def section_html(client) -> str:
    page = html.unescape(client.get(reverse("settings-integrations")).content.decode())
    start = page.index('<section class="card" id="outreach">')
    return page[start:page.index("</section>", start)]


def test_registered_between_dialers_and_slack():
    assert reverse("outreach-switch") == SWITCH
    section = registry.SECTIONS["outreach"]
    assert section.title == "Sync Outreach and Chorus" and 40 < section.order < 70
    provider = registry.PROVIDERS["outreach_tile"]
    assert provider.label == "Outreach tile" and provider.category == "revenue"


@pytest.mark.django_db
def test_the_section_says_what_the_seed_says(org, admin_client):
    section = section_html(admin_client)
    for text in ("import all of your team's conversations from Outreach.io",
                 "Chorus and Salesforce have already been synced", "Outreach Voice",
                 "You have Outreach admin credentials", "To customize your Layout in Outreach.io",
                 "select one of the system layouts", "Clone", "Shared with Others", "Add New Tile",
                 "Select the Chorus tile", "Drag and resize the tile", "Save", "Chorus tile for Outreach"):
        assert text in section, text
    assert 'value="https://chorus.test/integrations/outreach/tile/"' in section
    assert "https://chorus.test/integrations/outreach/connect/" in section
    assert ">Copy</button>" in section
    # Admins: the switch can be saved; the dialer link goes to Outreach's dialer form.
    assert 'type="submit"' in section and "disabled>" not in section
    assert reverse("dialer-connect", args=["outreach"]) in section
    assert section.count("Not yet") == 2


@pytest.mark.django_db
def test_prerequisites_follow_the_org(org, admin_client):
    Connection.objects.create(org=org, provider="salesforce", status="ok", config={"crm_org_id": "00D"})
    dialer = Connection.objects.create(org=org, provider="outreach", status="ok")
    section = section_html(admin_client)
    assert "Not yet" not in section and section.count(">Done<") == 2
    assert reverse("dialer-edit", args=[dialer.pk]) in section


@pytest.mark.django_db
def test_admins_switch_the_tile_on_and_off_audited(org, admin_client):
    response = admin_client.post(SWITCH, {"enabled": "on"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("settings-integrations") + "#outreach"
    assert "The Chorus tile for Outreach is on" in response.content.decode()
    assert outreach.outreach_tile_enabled(org=org)
    assert "checked" in section_html(admin_client).split("Chorus tile for Outreach")[0].rsplit("<input", 1)[1]

    response = admin_client.post(SWITCH, {}, follow=True)
    assert "The Chorus tile for Outreach is off" in response.content.decode()
    assert not outreach.outreach_tile_enabled(org=org)
    events = AuditEvent.objects.filter(org=org).order_by("id")
    assert [(e.action, e.target) for e in events] == [
        ("outreach_tile.enabled", "Sync Outreach and Chorus"), ("outreach_tile.disabled", "Sync Outreach and Chorus")]
    assert events[0].actor.email == "admin@acme.example"


@pytest.mark.django_db
def test_members_cannot_switch_and_would_read_it_only(org, rep_user, rep_client, rf):
    outreach.outreach_tile_set(org=org, actor=None, enabled=True)
    assert rep_client.post(SWITCH, {}).status_code == 403
    assert outreach.outreach_tile_enabled(org=org)
    # Settings > Integrations is the admins' page; the section itself shows a member the
    # state, disabled, without Save or links to admin pages.
    assert rep_client.get(reverse("settings-integrations")).status_code == 403
    request = rf.get("/settings/integrations/")
    request.user = rep_user
    section = html.unescape(render_to_string("console/_section_outreach.html",
                                             {"ctx": outreach.outreach_section(request, org)}, request=request))
    assert "Chorus tile for Outreach" in section and "Only Chorus admins can change this." in section
    assert 'name="enabled" checked disabled' in section and 'type="submit"' not in section
    assert reverse("dialer-connect", args=["outreach"]) not in section


@pytest.mark.django_db
def test_signed_out_and_get_are_refused(org, client, admin_client):
    assert admin_client.get(SWITCH).status_code == 405
    client.logout()
    response = client.post(SWITCH, {"enabled": "on"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not outreach.outreach_tile_enabled(org=org)


@pytest.mark.django_db
def test_the_switch_needs_the_csrf_token(org, admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(SWITCH, {"enabled": "on"}).status_code == 403
    assert not outreach.outreach_tile_enabled(org=org)
    page = client.get(reverse("settings-integrations")).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    assert client.post(SWITCH, {"enabled": "on", "csrfmiddlewaretoken": token}).status_code == 302
    assert outreach.outreach_tile_enabled(org=org)


@pytest.mark.django_db
def test_each_org_has_its_own_switch(org, other_org, admin_client, client):
    admin_client.post(SWITCH, {"enabled": "on"})
    assert outreach.outreach_tile_enabled(org=org) and not outreach.outreach_tile_enabled(org=other_org)
    globex_admin = UserFactory(org=other_org, email="admin@globex.example", role=role(other_org, "Admin"))
    client.force_login(globex_admin)
    assert 'name="enabled" >' in section_html(client) or 'name="enabled"  >' in section_html(client)
    client.post(SWITCH, {})  # Globex switching off touches nothing of Acme
    assert outreach.outreach_tile_enabled(org=org)
    assert not AuditEvent.objects.filter(org=other_org).exists()
    client.post(SWITCH, {"enabled": "on"})
    client.post(SWITCH, {})
    assert outreach.outreach_tile_enabled(org=org) and not outreach.outreach_tile_enabled(org=other_org)
    assert list(AuditEvent.objects.filter(org=other_org).values_list("action", flat=True).order_by("id")) == [
        "outreach_tile.enabled", "outreach_tile.disabled"]
