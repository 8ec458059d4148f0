"""The embedded views' shared pieces and the Outreach tile: framing origins for a
Salesforce instance, the signed media URL the players use, and the tile (ping,
sign-in by its own cookie, the org's switch, the account by domain or name, never
another org's)."""

from __future__ import annotations

import io
import time

import pytest
from django.core import signing
from django.urls import reverse

from console import embeds
from console.outreach import outreach_tile_set
from crm.models import AccountDomain, CrmAccount
from integrations.storage import services as storage
from integrations.storage.models import RecordingFile
from testutils.factories import EngagementFactory, MomentFactory, TrackerFactory

# Until chorus/urls.py includes console.embed_urls, these tests mount it themselves.

OUTREACH_FRAME = "frame-ancestors 'self' https://*.outreach.io"


def tile(client, **params):
    return client.get(reverse("outreach-tile"), params)


def outreach_params(**extra):
    return {"locale": "en", "theme": "light", "uid": "42", "acc.id": "1207", **extra}


def with_recording(engagement, content=b"OggS-fake-audio"):
    _, name = storage.recording_store(org=engagement.org, name=f"recordings/{engagement.pk}.ogg",
                                      fileobj=io.BytesIO(content))
    RecordingFile.objects.create(org=engagement.org, engagement=engagement, name=name, content_type="audio/ogg",
                                 file_type="OGG")
    return engagement


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


# --- Framing ------------------------------------------------------------------------------


def test_salesforce_frame_ancestors():
    assert embeds.salesforce_frame_ancestors("https://acme.my.salesforce.com") == [
        "https://acme.my.salesforce.com", "https://acme.lightning.force.com", "https://acme--c.vf.force.com",
        "https://acme--affectlayer.vf.force.com"]
    assert embeds.salesforce_frame_ancestors("https://acme--uat.sandbox.my.salesforce.com/") == [
        "https://acme--uat.sandbox.my.salesforce.com", "https://acme--uat.sandbox.lightning.force.com",
        "https://acme--uat--c.sandbox.vf.force.com", "https://acme--uat--affectlayer.sandbox.vf.force.com"]
    assert embeds.salesforce_frame_ancestors("https://na85.salesforce.com") == ["https://na85.salesforce.com"]
    assert embeds.salesforce_frame_ancestors("http://acme.my.salesforce.com") == []
    assert embeds.salesforce_frame_ancestors("") == []
    assert embeds.frame_ancestors_header([]) == "frame-ancestors 'none'"


# --- Signed media -------------------------------------------------------------------------


@pytest.mark.django_db
def test_signed_media_streams_without_a_session_and_refuses_tampering_and_age(client, org, other_org, media,
                                                                              monkeypatch):
    ours = with_recording(EngagementFactory(org=org))
    theirs = with_recording(EngagementFactory(org=other_org), content=b"their audio")
    url = storage.signed_media_url(ours)
    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"OggS-fake-audio"
    assert response["Accept-Ranges"] == "bytes"

    token = url.rstrip("/").rsplit("/", 1)[-1]
    # Tampered: the payload names another engagement, the signature no longer fits.
    payload, rest = token.split(":", 1)
    forged_payload = signing.b64_encode(f'{{"o":{other_org.pk},"e":{theirs.pk}}}'.encode()).decode()
    assert client.get(reverse("recording-media-signed", args=[f"{forged_payload}:{rest}"])).status_code == 404
    assert client.get(reverse("recording-media-signed", args=[token[:-2] + "xx"])).status_code == 404
    # Signed with another salt (say, the Clari cookie's) is not a media token.
    other_salt = signing.dumps({"o": org.pk, "e": ours.pk}, salt="console.clari.embed")
    assert client.get(reverse("recording-media-signed", args=[other_salt])).status_code == 404
    # A token is only ever made for the engagement's own org: another org's id never pairs with ours.
    assert storage.signed_media_target(storage.signed_media_url(theirs).rstrip("/").rsplit("/", 1)[-1]) == (
        other_org.pk, theirs.pk)
    mismatched = signing.dumps({"o": org.pk, "e": theirs.pk}, salt=storage.MEDIA_SALT, compress=False)
    assert client.get(reverse("recording-media-signed", args=[mismatched])).status_code == 404  # no such pair
    # Expired after 4 hours.
    later = time.time() + storage.MEDIA_MAX_AGE + 5
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert client.get(url).status_code == 404
    assert client.post(url).status_code in (404, 405)


# --- Outreach tile ------------------------------------------------------------------------


@pytest.fixture
def wonka(org, media):
    account = CrmAccount.objects.create(org=org, provider="salesforce", remote_id="0015e00000Wonka", name="Wonka")
    AccountDomain.objects.create(org=org, account=account, domain="wonka.example", weight=3)
    call = with_recording(EngagementFactory(org=org, title="Wonka pricing call", crm_account_id="0015e00000Wonka"))
    MomentFactory(engagement=call, tracker=TrackerFactory(org=org, name="Pricing"), at_seconds=95,
                  text="the price for 40 seats")
    return account


@pytest.fixture
def tile_client(client, rep_user, org):
    """A browser whose user opened /integrations/outreach/connect/ (tile switched on)."""
    outreach_tile_set(org=org, actor=None, enabled=True)
    client.force_login(rep_user)
    connect = client.get(reverse("outreach-connect"))
    assert connect.status_code == 200 and b"You are logged in for Outreach" in connect.content
    cookie = connect.cookies[embeds.OUTREACH_COOKIE]
    assert cookie["samesite"] == "None" and cookie["secure"] and cookie["httponly"]
    assert cookie["path"] == "/integrations/outreach/"
    client.logout()  # inside Outreach's frame only the tile cookie arrives
    client.cookies[embeds.OUTREACH_COOKIE] = cookie.value
    return client


@pytest.mark.django_db
def test_ping_is_an_empty_200(client):
    response = tile(client, ping="true", **outreach_params())
    assert response.status_code == 200 and response.content == b""
    assert response["Content-Security-Policy"] == OUTREACH_FRAME and "X-Frame-Options" not in response


@pytest.mark.django_db
def test_signed_out_shows_log_in_to_chorus_and_says_ready(client, wonka):
    response = tile(client, **outreach_params(**{"acc.domain": "wonka.example"}))
    page = response.content.decode()
    assert response.status_code == 200 and "Log in to Chorus" in page and "Wonka pricing call" not in page
    assert f'href="{reverse("outreach-connect")}" target="_blank"' in page
    assert "cxt:sdk:ready" in page and "version: 2" in page
    assert response["Content-Security-Policy"] == OUTREACH_FRAME and "X-Frame-Options" not in response
    # A session cookie alone is not the tile's sign-in (it never reaches a third-party frame).
    client.force_login(wonka.org.users.first())
    assert "Log in to Chorus" in tile(client, **outreach_params()).content.decode()


@pytest.mark.django_db
def test_switched_off_shows_nothing(tile_client, wonka, org):
    outreach_tile_set(org=org, actor=None, enabled=False)
    page = tile(tile_client, **outreach_params(**{"acc.domain": "wonka.example"})).content.decode()
    assert "The Chorus tile is off" in page and "Wonka pricing call" not in page
    assert "cxt:sdk:ready" in page


@pytest.mark.django_db
def test_the_account_by_domain(tile_client, wonka):
    response = tile(tile_client, **outreach_params(**{"acc.domain": "https://www.wonka.example/about",
                                                        "acc.name": "Something else"}))
    page = response.content.decode()
    assert response.status_code == 200 and response["Content-Security-Policy"] == OUTREACH_FRAME
    assert "Wonka pricing call" in page and "1:35" in page and "the price for 40 seats" in page
    assert "/integrations/media/" in page and "Open in Chorus" in page


@pytest.mark.django_db
def test_the_account_by_name(tile_client, wonka):
    page = tile(tile_client, **outreach_params(**{"acc.domain": "", "acc.name": "WONKA"})).content.decode()
    assert "Wonka pricing call" in page


@pytest.mark.django_db
def test_no_match_says_so(tile_client, wonka):
    page = tile(tile_client, **outreach_params(**{"acc.domain": "initech.example",
                                                    "acc.name": "Initech"})).content.decode()
    assert "No account in Chorus matches “initech.example” or “Initech”" in page
    assert "Wonka pricing call" not in page


@pytest.mark.django_db
def test_another_orgs_account_is_never_shown(tile_client, org, other_org, media):
    globex = CrmAccount.objects.create(org=other_org, provider="salesforce", remote_id="0015e00000Globx",
                                       name="Globex")
    AccountDomain.objects.create(org=other_org, account=globex, domain="globex.example")
    EngagementFactory(org=other_org, title="Globex secret call", crm_account_id="0015e00000Globx")
    # Even when our org has an account with the same remote id, only our engagements show.
    CrmAccount.objects.create(org=org, provider="salesforce", remote_id="0015e00000Globx", name="Globex (ours)")
    for params in ({"acc.domain": "globex.example"}, {"acc.name": "Globex"}, {"acc.name": "Globex (ours)"}):
        page = tile(tile_client, **outreach_params(**params)).content.decode()
        assert "Globex secret call" not in page, params


@pytest.mark.django_db
def test_connect_is_for_signed_in_members_and_needs_the_switch(client, rep_user, org):
    response = client.get(reverse("outreach-connect"))
    assert response.status_code in (302, 403)
    client.force_login(rep_user)
    response = client.get(reverse("outreach-connect"))
    assert response.status_code == 200 and embeds.OUTREACH_COOKIE not in response.cookies
    assert b"has not switched on" in response.content
    assert response["X-Frame-Options"] == "DENY"  # the first-party page stays unframable
