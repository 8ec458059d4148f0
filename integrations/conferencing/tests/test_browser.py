"""What the seed tells an admin to do, click by click: activate Zoom (a local fake
consent page), pick Zoom Post Call Download, add an S3 bucket (moto's server)."""

import html
import re

import pytest
from playwright.sync_api import expect
from werkzeug import Response

from chorus.models import Organization
from integrations.models import Connection
from testutils.browser import login, screenshot
from testutils.factories import UserFactory, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    return UserFactory(
        org=org,
        email="ada@acme.example",
        first_name="Ada",
        last_name="Lovelace",
        role=role(org, "Admin"),
        password=PASSWORD,
    )


@pytest.fixture
def fake_zoom(httpserver):
    """Zoom's consent page, token endpoint and /users/me, served locally."""

    def consent(request):
        back = f"{request.args['redirect_uri']}?code=CONSENT-CODE&state={request.args['state']}"
        page = (
            f"<!doctype html><title>Zoom</title><h1>Chorus.ai would like to access your Zoom account</h1>"
            f'<p>Client {html.escape(request.args["client_id"])}</p><a href="{html.escape(back)}">Allow</a>'
        )
        return Response(page, content_type="text/html")

    httpserver.expect_request("/oauth/authorize").respond_with_handler(consent)
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {
            "access_token": "ACCESS-B",
            "refresh_token": "REFRESH-B",
            "expires_in": 3599,
            "scope": "meeting:read:admin cloud_recording:read:list_recording_files:admin user:read:admin",
        }
    )
    httpserver.expect_request("/v2/users/me").respond_with_json(
        {"id": "U1", "email": "zoom-owner@acme.example", "account_id": "ACCT-BROWSER"}
    )
    return httpserver


def test_admin_activates_zoom_picks_post_call_download_and_adds_an_s3_bucket(
    page, live_server, settings, admin, org, fake_zoom, s3, s3_bucket
):  # noqa: F811
    settings.CHORUS_BASE_URL = live_server.url
    login(page, live_server.url, admin.email, PASSWORD)
    page.goto("/settings/integrations/")
    zoom = page.locator("#native-zoom-integration")
    expect(zoom.get_by_role("heading", name="Native Zoom Integration")).to_be_visible()
    expect(zoom.get_by_text("Copy reactivation link to share with Zoom Admin:")).to_be_visible()
    expect(zoom.get_by_role("checkbox", name="Enable Zoom Post Call download")).to_be_disabled()  # not activated yet
    zoom.scroll_into_view_if_needed()
    screenshot(page, "zoom-1-before-activate")

    zoom.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("heading", name="Chorus.ai would like to access your Zoom account")).to_be_visible()
    page.get_by_role("link", name="Allow").click()

    expect(page.get_by_role("status").first).to_contain_text("activated for zoom-owner@acme.example")
    expect(zoom.get_by_text("Activated", exact=True)).to_be_visible()
    expect(zoom.get_by_role("button", name="Reinstall")).to_be_visible()

    zoom.get_by_role("checkbox", name="Enable Zoom Post Call download").check()
    expect(zoom.get_by_role("status")).to_have_text("Saved")
    with page.expect_response(lambda r: r.request.method == "POST"):  # the choice is saved as it is clicked
        zoom.get_by_role("radio", name=re.compile(r"^Zoom Post Call Download")).check()
    expect(zoom.get_by_text("Chorus App for Zoom unavailable")).to_be_visible()
    expect(zoom.get_by_role("radio", name=re.compile(r"^Zoom Post Call Download"))).to_be_checked()
    conn = Connection.objects.get(org=org, provider="zoom")
    assert conn.config["account_id"] == "ACCT-BROWSER"
    assert conn.config["recording_method"] == "post_call_download" and conn.config["post_call_download"] is True
    zoom.scroll_into_view_if_needed()
    screenshot(page, "zoom-2-post-call-download")

    bucket = page.locator("#custom-media-bucket")
    bucket.get_by_role("link", name="Add a new Bucket").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Custom Media Bucket")).to_be_visible()
    dialog.get_by_label("Storage provider").select_option("AWS S3")
    # Choosing the provider re-renders the form in place (htmx): type once it has.
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    dialog.get_by_label("Bucket name").fill("no-such-bucket-here")
    dialog.get_by_label("Region").fill("us-east-1")
    dialog.get_by_label("Path prefix").fill("chorus/recordings")
    dialog.get_by_label("Access key ID").fill("AKIAIOSFODNN7EXAMPLE")
    dialog.get_by_label("Secret access key").fill("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text("does not exist")
    screenshot(page, "bucket-1-error")

    dialog.get_by_label("Bucket name").fill(s3_bucket)
    expect(dialog.get_by_label("Secret access key")).to_have_value("")  # secrets are never sent back
    dialog.get_by_label("Access key ID").fill("AKIAIOSFODNN7EXAMPLE")
    dialog.get_by_label("Secret access key").fill("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Recordings are now stored in AWS S3")
    expect(bucket.get_by_text(s3_bucket)).to_be_visible()
    expect(bucket.get_by_text("In use")).to_be_visible()
    assert "wJalrXUtnFEMI" not in page.content()
    bucket.scroll_into_view_if_needed()
    screenshot(page, "bucket-2-saved")
    assert Connection.objects.get(org=org, provider="media_bucket").config["bucket"] == s3_bucket


def test_admin_lists_ignored_and_blocked_people_and_a_rep_turns_a_meeting_off(page, live_server, admin, org):
    """Organization Settings: Ignored participants and Block list. Personal Settings:
    a user turns recording off for one upcoming meeting, and back on."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.conferencing.models import Calendar, CalendarEvent

    login(page, live_server.url, admin.email, PASSWORD)
    page.goto(live_server.url + "/settings/organization/")
    page.get_by_label("Ignored participants").fill("assistant@acme-partners.example")
    page.get_by_label("Block list").fill("not an address")
    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_role("alert").filter(has_text="neither an email address nor a domain")).to_be_visible()
    expect(page.get_by_label("Ignored participants")).to_have_value("assistant@acme-partners.example")
    page.get_by_label("Block list").fill("lawyers.example\ncounsel@firm.example")
    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_text("Organization settings saved.")).to_be_visible()
    expect(page.get_by_label("Block list")).to_have_value("lawyers.example\ncounsel@firm.example")
    screenshot(page, "org-participant-lists")
    org.refresh_from_db()
    assert org.blocked_participants == ["lawyers.example", "counsel@firm.example"]

    calendar = Calendar.objects.create(org=org, user=admin, provider="ics", status="ok")
    event = CalendarEvent.objects.create(
        org=org, calendar=calendar, external_id="e1", title="Wonka and Schrute Farms Connect",
        starts_at=timezone.now() + timedelta(days=1), organizer_email=admin.email,
        attendees=[{"email": "willy@wonka.example"}], description="https://acme.zoom.us/j/81234567890",
        record=True, reason="recorded: Zoom link and external attendee willy@wonka.example")
    page.goto(live_server.url + "/settings/personal/")
    row = page.locator("table.upcoming-meetings tr", has_text="Wonka and Schrute Farms Connect")
    expect(row.get_by_text("Will record")).to_be_visible()
    row.get_by_role("button", name="Don't record").click()
    expect(page.get_by_text("Chorus won't record “Wonka and Schrute Farms Connect”")).to_be_visible()
    expect(row.get_by_text("not recorded: turned off by the user")).to_be_visible()
    screenshot(page, "personal-upcoming-meetings")
    event.refresh_from_db()
    assert event.recording_disabled and not event.record
    row.get_by_role("button", name="Record again").click()
    expect(row.get_by_text("Will record")).to_be_visible()
