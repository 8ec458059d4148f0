"""The Salesforce canvas view (``/integrations/salesforce/canvas/``): signed requests
built exactly as Salesforce builds them (Canvas Developer Guide, "Verifying and
Decoding a Signed Request": Base64 HMAC-SHA256 of the Base64 JSON CanvasRequest,
keyed by the consumer secret, a period, then that Base64 JSON), and every way one
is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chorus.models import Participant
from crm.models import CrmContact, CrmOpportunity
from crm.providers.salesforce import canvas
from integrations.models import Connection
from integrations.storage import services as storage
from integrations.storage.models import RecordingFile
from testutils.factories import EngagementFactory, MomentFactory, TrackerFactory, UserFactory

# Until chorus/urls.py includes console.embed_urls, these tests mount it themselves.

SECRET = "3141592653589793238"  # the connected app's consumer secret (test value)
SF_ORG = canvas.id_variants("00D5e000000Acme")[1]  # 18 characters, as the identity URL gives it
SF_USER = canvas.id_variants("0055e000001ReyX")[1]
OPP = canvas.id_variants("0065e00000Wonka")[1]
INSTANCE = "https://acme.my.salesforce.com"
ACME_FRAME = ("frame-ancestors https://acme.my.salesforce.com https://acme.lightning.force.com "
              "https://acme--c.vf.force.com https://acme--affectlayer.vf.force.com")


def canvas_payload(*, record_id=OPP, record_type="Opportunity", org_id=SF_ORG, user_id=SF_USER,
                   email="rey@acme.example", issued_at=None, algorithm="HMACSHA256", parameters=None,
                   instance_url=INSTANCE):
    """A CanvasRequest with the documented shape (CanvasRequest, Client, Context, User,
    Organization, Environment, Record, Application objects)."""
    record = {"attributes": {"type": record_type, "url": f"/services/data/v60.0/sobjects/{record_type}/{record_id}"},
              "Id": record_id} if record_id else {}
    return {
        "algorithm": algorithm,
        "issuedAt": int(time.time()) if issued_at is None else issued_at,
        "userId": user_id,
        "client": {"oauthToken": "00D5e000000Acme!AQ0AQ.secret-session-token",
                   "instanceId": "_:AffectLayer_Notes:j_id0", "instanceUrl": instance_url,
                   "targetOrigin": instance_url, "refreshToken": None},
        "context": {
            "user": {"userId": user_id, "userName": email, "email": email, "firstName": "Rey", "lastName": "Rep",
                     "fullName": "Rey Rep", "locale": "en_US", "language": "en_US", "timeZone": "America/Los_Angeles",
                     "profileId": "00e5e000000Prof", "roleId": None, "userType": "STANDARD",
                     "currencyISOCode": "USD", "accessibilityModeEnabled": False, "isDefaultNetwork": True},
            "organization": {"organizationId": org_id, "name": "Acme Inc", "multicurrencyEnabled": False,
                             "namespacePrefix": None, "currencyIsoCode": "USD"},
            "environment": {"displayLocation": "PageLayout", "subLocation": "S1RecordHomePreview",
                            "locationUrl": f"{instance_url}/lightning/r/{record_type}/{record_id}/view",
                            "uiTheme": "Theme4d", "dimensions": {"width": "100%", "height": "400px"},
                            "record": record, "parameters": parameters or {}, "version": {"api": "60.0",
                                                                                           "season": "SPRING"}},
            "application": {"namespace": "affectlayer", "developerName": "AffectLayer_Notes", "name": "Chorus",
                            "applicationId": "06P5e000000Chor", "authType": "SIGNED_REQUEST",
                            "canvasUrl": "https://chorus.test/integrations/salesforce/canvas/",
                            "version": "1.0", "options": [], "referenceId": "09H5e000000Chor"},
            "links": {"loginUrl": "https://login.salesforce.com", "restUrl": "/services/data/v60.0/"},
        },
    }


def signed_request(payload: dict, secret: str = SECRET) -> str:
    """Exactly as Salesforce: Base64(HMAC-SHA256(secret, Base64(JSON))) "." Base64(JSON)."""
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    signature = base64.b64encode(hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()).decode()
    return f"{signature}.{encoded}"


@pytest.fixture
def sf(org, settings, tmp_path):
    settings.SALESFORCE_CANVAS_SECRET = SECRET
    settings.SALESFORCE_CANVAS_MAX_AGE_SECONDS = 7200
    settings.MEDIA_ROOT = str(tmp_path)
    return Connection.objects.create(org=org, provider="salesforce", status="ok", config={
        "instance_url": INSTANCE, "crm_org_id": SF_ORG, "login_url": "https://login.salesforce.com"},
        secrets={"access_token": "t"})


@pytest.fixture
def rey(org):
    return UserFactory(org=org, email="rey@acme.example", first_name="Rey", last_name="Rep",
                       external_ids={"salesforce": SF_USER[:15]})


def with_recording(engagement, content=b"RIFF-fake-audio-bytes", content_type="audio/wav"):
    _, name = storage.recording_store(org=engagement.org, name=f"recordings/{engagement.pk}.wav",
                                      fileobj=io.BytesIO(content))
    RecordingFile.objects.create(org=engagement.org, engagement=engagement, name=name, content_type=content_type,
                                 file_type="WAV")
    return engagement


def post(client, payload, secret=SECRET):
    return client.post(reverse("salesforce-canvas"), {"signed_request": signed_request(payload, secret)})


@pytest.mark.django_db
def test_an_opportunity_shows_its_recordings_with_players_and_moments(client, org, other_org, sf, rey):
    older = with_recording(EngagementFactory(org=org, title="Wonka discovery", crm_opportunity_id=OPP[:15],
                                             started_at=timezone.now() - timedelta(days=3)))
    newer = with_recording(EngagementFactory(org=org, title="Wonka pricing call", crm_opportunity_id=OPP,
                                             started_at=timezone.now() - timedelta(days=1)))
    pricing = TrackerFactory(org=org, name="Pricing")
    MomentFactory(engagement=newer, tracker=pricing, at_seconds=83, text="what would the price be for 40 seats")
    MomentFactory(engagement=older, tracker=TrackerFactory(org=org, name="Competitors"), at_seconds=3725,
                  text="we also looked at Globex")
    foreign = EngagementFactory(org=other_org, title="Globex secret call", crm_opportunity_id=OPP)
    with_recording(foreign)
    CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id=OPP, name="Wonka renewal")

    response = post(client, canvas_payload())
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == ACME_FRAME
    assert "X-Frame-Options" not in response
    assert "Wonka renewal" in page and "2 recordings" in page
    assert page.index("Wonka pricing call") < page.index("Wonka discovery")  # newest first
    assert "Globex secret call" not in page  # another org's engagement with the same opportunity id
    assert "1:23" in page and "what would the price be for 40 seats" in page and "Pricing" in page
    assert "1:02:05" in page and 'data-seek="83"' in page
    assert f'href="/recordings/{newer.pk}/"' in page or reverse("recording", args=[newer.pk]) in page
    assert 'target="_blank"' in page

    # The player's source is a signed URL that streams without a Chorus session (none inside Salesforce's frame).
    srcs = [chunk.split('"', 1)[0] for chunk in page.split('<audio class="sx-player" src="')[1:]]
    assert len(srcs) == 2
    assert client.session.get("_auth_user_id") is None
    media = client.get(srcs[0])
    assert media.status_code == 200 and b"".join(media.streaming_content) == b"RIFF-fake-audio-bytes"
    ranged = client.get(srcs[0], HTTP_RANGE="bytes=0-3")
    assert ranged.status_code == 206 and b"".join(ranged.streaming_content) == b"RIFF"


@pytest.mark.django_db
def test_no_n_plus_one(client, org, sf, rey):
    tracker = TrackerFactory(org=org, name="Pricing")

    def add_and_count(n):
        for _ in range(n):
            e = with_recording(EngagementFactory(org=org, crm_opportunity_id=OPP, owner=rey))
            MomentFactory(engagement=e, tracker=tracker)
            MomentFactory(engagement=e, tracker=tracker, at_seconds=400, text="the budget is set")
        with CaptureQueriesContext(db_connection) as ctx:
            assert post(client, canvas_payload()).status_code == 200
        return len(ctx.captured_queries)

    assert add_and_count(10) == add_and_count(10)  # 10, then 20 engagements

    add_and_count(7)  # 27: the newest 25 and the count
    page = post(client, canvas_payload()).content.decode()
    assert page.count('class="sx-card sx-item"') == 25
    assert "27 recordings" in page and "Showing the 25 newest of 27 recordings" in page


@pytest.mark.django_db
def test_forged_wrong_algorithm_garbled_and_missing_are_refused(client, org, sf, rey):
    EngagementFactory(org=org, title="Wonka pricing call", crm_opportunity_id=OPP)
    forged = post(client, canvas_payload(), secret="not-the-secret")
    assert forged.status_code == 403 and b"Wonka" not in forged.content
    assert forged["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert b"not signed by Chorus" in forged.content

    # A valid signature over a payload someone edited afterwards is forged too.
    good = signed_request(canvas_payload()).split(".", 1)[0]
    edited = base64.b64encode(json.dumps(canvas_payload(org_id="00D000000000EVL")).encode()).decode()
    assert client.post(reverse("salesforce-canvas"), {"signed_request": f"{good}.{edited}"}).status_code == 403

    wrong = post(client, canvas_payload(algorithm="HMACSHA1"))
    assert wrong.status_code == 403 and b"HMACSHA256" in wrong.content

    for garbled in ("", "no-period-here", "%%%.@@@", "abc." + base64.b64encode(b"[not json").decode(),
                    "abc." + base64.b64encode(b"[1, 2]").decode()):
        response = client.post(reverse("salesforce-canvas"), {"signed_request": garbled})
        assert response.status_code == 400, garbled
        assert response["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert client.post(reverse("salesforce-canvas"), {}).status_code == 400


@pytest.mark.django_db
def test_stale_requests_are_refused_in_seconds_and_milliseconds(client, org, sf, rey):
    EngagementFactory(org=org, crm_opportunity_id=OPP)
    three_hours_ago = int(time.time()) - 3 * 3600
    stale = post(client, canvas_payload(issued_at=three_hours_ago))
    assert stale.status_code == 403 and b"expired" in stale.content
    assert stale["Content-Security-Policy"] == ACME_FRAME  # proven to come from Salesforce: readable there
    assert post(client, canvas_payload(issued_at=three_hours_ago * 1000)).status_code == 403
    assert post(client, canvas_payload(issued_at=int(time.time() * 1000))).status_code == 200
    # issuedAt is "for internal use only": a value that is no plausible epoch is not an age.
    assert post(client, canvas_payload(issued_at="n/a")).status_code == 200


@pytest.mark.django_db
def test_another_salesforce_org_is_refused(client, org, other_org, sf, rey):
    EngagementFactory(org=org, title="Wonka pricing call", crm_opportunity_id=OPP)
    response = post(client, canvas_payload(org_id="00D5e000000GlobEAQ"))
    assert response.status_code == 403
    assert b"This Salesforce org is not connected to Chorus" in response.content and b"Wonka" not in response.content
    # The org id matches on its 15-character, case-sensitive prefix.
    assert post(client, canvas_payload(org_id=SF_ORG[:15])).status_code == 200
    assert post(client, canvas_payload(org_id=SF_ORG[:15].lower())).status_code == 403
    # A connection that is not working does not count.
    sf.status = "error"
    sf.save()
    assert post(client, canvas_payload()).status_code == 403


@pytest.mark.django_db
def test_a_salesforce_user_without_a_chorus_user_is_told_what_to_do(client, org, sf, rey):
    EngagementFactory(org=org, title="Wonka pricing call", crm_opportunity_id=OPP)
    response = post(client, canvas_payload(user_id="0055e000009ZedAAA", email="zed@acme.example"))
    page = response.content.decode()
    assert response.status_code == 403 and "Wonka" not in page
    assert "Rey Rep" in page and "zed@acme.example" in page and "Ask your Chorus admin" in page
    # By email (case-insensitive) when the Salesforce id is not recorded on the Chorus user.
    UserFactory(org=org, email="zed@acme.example")
    assert post(client, canvas_payload(user_id="0055e000009ZedAAA", email="Zed@Acme.Example")).status_code == 200
    # A deactivated Chorus user is no user.
    rey.is_active = False
    rey.save()
    assert post(client, canvas_payload(email="nobody@acme.example")).status_code == 403


@pytest.mark.django_db
def test_a_contact_page_says_where_the_view_is_supported(client, org, sf, rey):
    response = post(client, canvas_payload(record_id="0035e00000AnnAAA", record_type="Contact"))
    assert response.status_code == 200
    assert b"supported on Leads, Accounts and Opportunities only" in response.content
    assert response["Content-Security-Policy"] == ACME_FRAME


@pytest.mark.django_db
def test_no_record_says_to_add_the_component_to_a_record_page(client, org, sf, rey):
    response = post(client, canvas_payload(record_id=None))
    assert response.status_code == 200
    assert b"Add the Chorus component to a Lead, Account or Opportunity page" in response.content
    # The record id may come as a canvas parameter instead (type from its prefix).
    EngagementFactory(org=org, title="Wonka pricing call", crm_opportunity_id=OPP)
    response = post(client, canvas_payload(record_id=None, parameters={"recordId": OPP}))
    assert b"Wonka pricing call" in response.content


@pytest.mark.django_db
def test_a_lead_shows_the_engagements_its_email_took_part_in(client, org, other_org, sf, rey):
    lead_id = canvas.id_variants("00Q5e00000LeadA")[1]
    CrmContact.objects.create(org=org, provider="salesforce", remote_id=lead_id, kind="lead",
                              email="lena@prospect.example", name="Lena Lead")
    call = EngagementFactory(org=org, title="Intro with Lena")
    Participant.objects.create(org=org, engagement=call, email="Lena@Prospect.example")
    Participant.objects.create(org=org, engagement=call, email="rey@acme.example", is_internal=True)
    EngagementFactory(org=org, title="Someone else")
    theirs = EngagementFactory(org=other_org, title="Globex with Lena")
    Participant.objects.create(org=other_org, engagement=theirs, email="lena@prospect.example")

    response = post(client, canvas_payload(record_id=lead_id[:15], record_type="Lead"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Intro with Lena" in page and "Someone else" not in page and "Globex with Lena" not in page
    assert "Lena Lead" in page and "1 recording" in page


@pytest.mark.django_db
def test_an_account_matches_15_and_18_character_ids(client, org, sf, rey):
    EngagementFactory(org=org, title="Stored short", crm_account_id="0015e00000Wonka")
    EngagementFactory(org=org, title="Stored long", crm_account_id=canvas.id_variants("0015e00000Wonka")[1])
    EngagementFactory(org=org, title="Other case", crm_account_id="0015e00000wonka")
    page = post(client, canvas_payload(record_id="0015e00000Wonka", record_type="Account")).content.decode()
    assert "Stored short" in page and "Stored long" in page and "Other case" not in page


@pytest.mark.django_db
def test_no_secret_configured_is_a_503_for_support(client, org, sf, rey, settings):
    settings.SALESFORCE_CANVAS_SECRET = ""
    response = post(client, canvas_payload())
    assert response.status_code == 503 and b"Contact Chorus support" in response.content
    assert b"SALESFORCE_CANVAS_SECRET" in response.content


@pytest.mark.django_db
def test_get_is_405_with_an_explanation(client, sf):
    response = client.get(reverse("salesforce-canvas"))
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert b"signed POST" in response.content


@pytest.mark.django_db
def test_nothing_secret_is_logged(client, org, sf, rey, caplog, settings):
    payload = canvas_payload()
    with caplog.at_level("DEBUG"):
        post(client, payload, secret="forged")
        post(client, canvas_payload(org_id="00D5e000000GlobEAQ"))
        settings.SALESFORCE_CANVAS_SECRET = ""
        response = post(client, payload)  # a 5xx: Django logs it with the request
    logged = caplog.text
    assert "secret-session-token" not in logged and signed_request(payload)[:20] not in logged
    # Error reports (admin emails) mask the field.
    from django.views.debug import SafeExceptionReporterFilter

    assert SafeExceptionReporterFilter().get_post_parameters(response.wsgi_request)["signed_request"] == "*" * 20


def test_id_variants_computes_the_18_character_checksum():
    # Salesforce's documented example pair.
    assert canvas.id_variants("001A0000006Vm9r") == ["001A0000006Vm9r", "001A0000006Vm9rIAC"]
    assert canvas.id_variants("001A0000006Vm9rIAC") == ["001A0000006Vm9r", "001A0000006Vm9rIAC"]
    assert canvas.id_variants("not-an-id") == ["not-an-id"]


def test_sign_matches_the_documented_construction():
    payload = canvas_payload()
    signed = canvas.sign(payload, SECRET)
    assert canvas.verify_and_decode(signed, secret=SECRET, max_age=60) == payload
