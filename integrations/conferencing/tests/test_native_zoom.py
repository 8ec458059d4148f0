"""Settings > Integrations > Native Zoom Integration: Activate (OAuth with state),
reactivation link, streaming check, the options and the recording method."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db
from django.urls import reverse

from chorus.models import AuditEvent, Organization
from integrations.conferencing import services
from integrations.models import Connection
from testutils.factories import UserFactory, role

pytestmark = pytest.mark.django_db


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def expect_install(
    httpserver,
    *,
    account_id="ACCT-ACME-1",
    scope="meeting:read:admin cloud_recording:read:list_recording_files:admin user:read:admin",
):
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {
            "access_token": "ACCESS-NEW",
            "token_type": "bearer",
            "refresh_token": "REFRESH-NEW",
            "expires_in": 3599,
            "scope": scope,
        }
    )
    httpserver.expect_request("/v2/users/me", method="GET").respond_with_json(
        {"id": "z8yCxjabcdEFGHfp8uQ", "email": "owner@acme.example", "account_id": account_id, "role_name": "Owner"}
    )


def start(client):
    response = client.post(reverse("zoom-activate"))
    assert response.status_code == 302
    return response["Location"], query_of(response["Location"])["state"]


def test_activate_sends_the_admin_to_zoom_with_a_state(admin_client, httpserver):
    location, state = start(admin_client)
    assert location.startswith(httpserver.url_for("/oauth/authorize?"))
    assert query_of(location) == {
        "response_type": "code",
        "client_id": "zoom-client-id",
        "state": state,
        "redirect_uri": "https://chorus.test/integrations/zoom/oauth/",
    }
    assert len(state) >= 32


def test_callback_installs_and_stores_tokens_encrypted(admin_client, org, admin_user, httpserver):
    _, state = start(admin_client)
    expect_install(httpserver)
    response = admin_client.get(reverse("zoom-oauth-callback"), {"code": "CODE-1", "state": state})
    assert response.status_code == 302 and response["Location"].endswith(
        "/settings/integrations/#native-zoom-integration"
    )

    token_request = next(r for r, _ in httpserver.log if r.path == "/oauth/token")
    assert dict(token_request.form) == {
        "grant_type": "authorization_code",
        "code": "CODE-1",
        "redirect_uri": "https://chorus.test/integrations/zoom/oauth/",
    }
    assert token_request.authorization.username == "zoom-client-id"
    assert token_request.authorization.password == "zoom-client-secret"
    me = next(r for r, _ in httpserver.log if r.path == "/v2/users/me")
    assert me.headers["Authorization"] == "Bearer ACCESS-NEW"

    conn = Connection.objects.get(org=org, provider="zoom")
    assert conn.status == "ok" and conn.connected_by == admin_user
    assert conn.config["account_id"] == "ACCT-ACME-1" and conn.config["installed_by_email"] == "owner@acme.example"
    assert conn.config["recording_method"] == "streaming" and conn.config["streaming"] is True
    assert conn.secrets["access_token"] == "ACCESS-NEW" and conn.secrets["refresh_token"] == "REFRESH-NEW"
    with db.cursor() as cursor:
        cursor.execute("SELECT secrets FROM integrations_connection WHERE id = %s", [conn.pk])
        assert "ACCESS-NEW" not in cursor.fetchone()[0]
    assert AuditEvent.objects.filter(org=org, action="zoom.activated").exists()

    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "The Chorus Zoom integration is activated for owner@acme.example." in page
    assert "Activated" in page and "ACCESS-NEW" not in page and "REFRESH-NEW" not in page


@pytest.mark.parametrize("params", [{"code": "CODE-1", "state": "forged"}, {"code": "CODE-1"}])
def test_callback_with_a_wrong_state_changes_nothing(admin_client, org, httpserver, params):
    start(admin_client)
    expect_install(httpserver)
    response = admin_client.get(reverse("zoom-oauth-callback"), params, follow=True)
    assert "could not be verified" in response.content.decode()
    assert not Connection.objects.filter(provider="zoom").exists()
    assert not [r for r, _ in httpserver.log if r.path == "/oauth/token"]


def test_callback_without_a_started_install_changes_nothing(admin_client, httpserver):
    response = admin_client.get(reverse("zoom-oauth-callback"), {"code": "C", "state": "S"}, follow=True)
    assert "could not be verified" in response.content.decode()
    assert not Connection.objects.exists()


def test_denied_consent_is_explained(admin_client, httpserver):
    _, state = start(admin_client)
    response = admin_client.get(reverse("zoom-oauth-callback"), {"error": "access_denied", "state": state}, follow=True)
    assert "cancelled in Zoom" in response.content.decode() and not Connection.objects.exists()


def test_zoom_refusing_the_code_is_explained(admin_client, httpserver):
    _, state = start(admin_client)
    httpserver.expect_request("/oauth/token").respond_with_json(
        {"reason": "Invalid authorization code", "error": "invalid_request"}, status=400
    )
    response = admin_client.get(reverse("zoom-oauth-callback"), {"code": "OLD", "state": state}, follow=True)
    assert "Zoom refused the installation (Invalid authorization code)" in response.content.decode()
    assert not Connection.objects.exists()


def test_a_zoom_account_of_another_org_cannot_be_taken_over(admin_client, org, other_org, httpserver):
    Connection.objects.create(org=other_org, provider="zoom", status="ok", config={"account_id": "ACCT-ACME-1"})
    _, state = start(admin_client)
    expect_install(httpserver)
    response = admin_client.get(reverse("zoom-oauth-callback"), {"code": "C", "state": state}, follow=True)
    assert services.ALREADY_ELSEWHERE in response.content.decode()
    assert not Connection.objects.filter(org=org).exists()
    assert Connection.objects.get(org=other_org).config == {"account_id": "ACCT-ACME-1"}


def test_callback_state_of_one_org_cannot_be_used_by_an_admin_of_another(
    client, org, other_org, admin_user, httpserver
):
    client.force_login(admin_user)
    _, state = start(client)
    other_admin = UserFactory(org=other_org, role=role(other_org, "Admin"))
    client.force_login(other_admin)  # a new session: the pending state is gone
    expect_install(httpserver)
    client.get(reverse("zoom-oauth-callback"), {"code": "C", "state": state})
    assert not Connection.objects.exists()


# --- Reactivation link --------------------------------------------------------------------------


def test_reactivation_link_lets_the_zoom_admin_install_without_a_chorus_login(admin_client, client, org, httpserver):
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Copy reactivation link to share with Zoom Admin:" in page
    # The signature carries a timestamp in seconds: the page shows the link of the
    # second it was rendered, so compare what it signs rather than the exact string.
    shown = re.search(r'https://chorus\.test/integrations/zoom/oauth/reactivate/[^/"<\s]+/', page)
    assert shown, page
    link = shown.group(0)
    assert services.reactivation_org(token=link.rstrip("/").rsplit("/", 1)[1]) == org
    assert services.reactivation_link(org=org).startswith("https://chorus.test/integrations/zoom/oauth/reactivate/")

    client.logout()
    path = urlsplit(link).path
    landing = client.get(path)
    assert landing.status_code == 200 and "Acme" in landing.content.decode()
    response = client.post(path)
    state = query_of(response["Location"])["state"]
    expect_install(httpserver)
    done = client.get(reverse("zoom-oauth-callback"), {"code": "CODE-Z", "state": state})
    assert done.status_code == 200
    assert "activated for owner@acme.example" in done.content.decode()
    conn = Connection.objects.get(org=org, provider="zoom")
    assert conn.status == "ok" and conn.connected_by is None


def test_a_tampered_reactivation_link_is_refused(client, org):
    link = services.reactivation_link(org=org)
    bad = urlsplit(link).path.replace("/reactivate/", "/reactivate/x")
    assert client.get(bad).status_code == 400
    assert client.post(bad).status_code == 400


# --- Options and recording method --------------------------------------------------------------------------


def settings_post(client, **data):
    return client.post(reverse("zoom-settings"), data, HTTP_HX_REQUEST="true")


def test_enterprise_admin_picks_zoom_post_call_download(admin_client, zoom_connection, org):
    zoom_connection.config = {**zoom_connection.config, "post_call_download": False, "recording_method": "streaming"}
    zoom_connection.save()
    response = settings_post(
        admin_client, streaming="on", post_call_download="on", recording_method="post_call_download"
    )
    html = response.content.decode()
    assert response.status_code == 200 and "Saved" in html
    assert "Chorus App for Zoom unavailable" in html
    zoom_connection.refresh_from_db()
    assert zoom_connection.config["post_call_download"] is True
    assert zoom_connection.config["recording_method"] == "post_call_download"
    assert services.recording_method(org=org) == "post_call_download"
    audit = AuditEvent.objects.get(org=org, action="zoom.settings_changed")
    assert audit.changes["recording_method"] == ["streaming", "post_call_download"]


def test_standard_package_cannot_enable_post_call_download_or_the_bot(admin_client, zoom_connection, org):
    org.package = Organization.Package.STANDARD
    org.save()
    before = dict(zoom_connection.config)
    for data in (
        {"streaming": "on", "post_call_download": "on", "recording_method": "streaming"},
        {"streaming": "on", "recording_method": "notetaker"},
    ):
        html = settings_post(admin_client, **data).content.decode()
        assert "Enterprise package only" in html
    zoom_connection.refresh_from_db()
    assert zoom_connection.config == before
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Enterprise package only" in page


def test_a_method_needs_its_option_checked(admin_client, zoom_connection):
    html = settings_post(admin_client, post_call_download="on", recording_method="streaming").content.decode()
    assert "Streaming needs Enable Streaming checked." in html
    html = settings_post(admin_client, streaming="on", recording_method="post_call_download").content.decode()
    assert "needs Enable Zoom Post Call download checked" in html
    html = settings_post(admin_client, streaming="on", recording_method="carrier-pigeon").content.decode()
    assert "Choose a recording method." in html
    zoom_connection.refresh_from_db()
    assert zoom_connection.config["recording_method"] == "post_call_download"


def test_without_zoom_the_notetaker_is_the_default_and_options_are_locked(admin_client, org):
    assert services.recording_method(org=org) == "notetaker"
    html = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Native Zoom Integration" in html and ">Activate</button>" in html
    assert "Enable Streaming" in html and "Enable Zoom Post Call download" in html
    assert "You need to reinstall the app to enable this feature." in html
    assert "Chorus' Notetaker Recording Bot" in html and "Zoom Post Call Download" in html
    html = settings_post(admin_client, streaming="on", recording_method="streaming").content.decode()
    assert "Activate the Chorus Zoom integration first." in html


def test_post_call_download_without_the_recording_scope_asks_for_a_reinstall(admin_client, zoom_connection):
    zoom_connection.config = {**zoom_connection.config, "scopes": ["meeting:read:admin"]}
    zoom_connection.save()
    html = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "does not have access to cloud recordings yet" in html


def test_settings_form_without_javascript_redirects_with_a_message(admin_client, zoom_connection):
    response = admin_client.post(
        reverse("zoom-settings"), {"streaming": "on", "recording_method": "streaming"}, follow=True
    )
    assert "Zoom settings saved." in response.content.decode()


# --- Streaming check --------------------------------------------------------------------------------------------


def test_streaming_check_reads_the_hosts_settings(admin_client, zoom_connection, httpserver):
    httpserver.expect_request("/v2/meetings/85212345678").respond_with_json(
        {"id": 85212345678, "host_id": "HOST-1", "host_email": "ada@acme.example"}
    )
    httpserver.expect_request("/v2/users/HOST-1/settings").respond_with_json(
        {"in_meeting": {"allow_live_streaming": True, "custom_live_streaming_service": True}}
    )
    response = admin_client.post(
        reverse("zoom-streaming-check"),
        {"meeting_link": "https://acme.zoom.us/j/85212345678?pwd=abc"},
        HTTP_HX_REQUEST="true",
    )
    assert "Streaming is activated for ada@acme.example." in response.content.decode()
    requests = [r for r, _ in httpserver.log]
    assert all(r.headers["Authorization"] == "Bearer ZOOM-ACCESS-1" for r in requests)


def test_streaming_check_says_what_to_turn_on(admin_client, zoom_connection, httpserver):
    httpserver.expect_request("/v2/meetings/85212345678").respond_with_json(
        {"host_id": "H", "host_email": "ada@acme.example"}
    )
    httpserver.expect_request("/v2/users/H/settings").respond_with_json(
        {"in_meeting": {"allow_live_streaming": True, "custom_live_streaming_service": False}}
    )
    html = admin_client.post(
        reverse("zoom-streaming-check"), {"meeting_link": "https://zoom.us/j/85212345678"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Streaming is not activated" in html and "Custom Live Streaming Service" in html


@pytest.mark.parametrize(
    "link, message",
    [
        ("", "Paste a Zoom meeting link"),
        ("https://meet.google.com/abc-defg-hij", "Paste a Zoom meeting link"),
    ],
)
def test_streaming_check_needs_a_zoom_link(admin_client, zoom_connection, httpserver, link, message):
    html = admin_client.post(
        reverse("zoom-streaming-check"), {"meeting_link": link}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert message in html and not httpserver.log


def test_streaming_check_refuses_an_external_meeting(admin_client, zoom_connection, httpserver):
    httpserver.expect_request("/v2/meetings/85212345678").respond_with_json(
        {"host_id": "H", "host_email": "bob@wonka.example"}
    )
    html = admin_client.post(
        reverse("zoom-streaming-check"), {"meeting_link": "https://zoom.us/j/85212345678"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "outside your organization" in html


def test_expired_access_token_is_refreshed_and_both_tokens_saved(admin_client, zoom_connection, httpserver):
    zoom_connection.secrets = {**zoom_connection.secrets, "expires_at": "2000-01-01T00:00:00+00:00"}
    zoom_connection.save()
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {"access_token": "ACCESS-2", "refresh_token": "REFRESH-2", "expires_in": 3599, "scope": "meeting:read:admin"}
    )
    httpserver.expect_request("/v2/meetings/85212345678").respond_with_json(
        {"host_id": "H", "host_email": "ada@acme.example"}
    )
    httpserver.expect_request("/v2/users/H/settings").respond_with_json({"in_meeting": {}})
    admin_client.post(
        reverse("zoom-streaming-check"), {"meeting_link": "https://zoom.us/j/85212345678"}, HTTP_HX_REQUEST="true"
    )
    refresh = next(r for r, _ in httpserver.log if r.path == "/oauth/token")
    assert dict(refresh.form) == {"grant_type": "refresh_token", "refresh_token": "ZOOM-REFRESH-1"}
    zoom_connection.refresh_from_db()
    assert (
        zoom_connection.secrets["access_token"] == "ACCESS-2"
        and zoom_connection.secrets["refresh_token"] == "REFRESH-2"
    )


# --- Permissions and tenancy -------------------------------------------------------------------------------------


ADMIN_ENDPOINTS = [
    ("post", "zoom-activate"),
    ("get", "zoom-settings"),
    ("post", "zoom-settings"),
    ("post", "zoom-streaming-check"),
    ("post", "zoom-disconnect"),
]


@pytest.mark.parametrize("method, name", ADMIN_ENDPOINTS)
def test_non_admins_get_403(rep_client, method, name):
    assert getattr(rep_client, method)(reverse(name)).status_code == 403


@pytest.mark.parametrize("method, name", ADMIN_ENDPOINTS)
def test_anonymous_is_sent_to_log_in(client, method, name):
    response = getattr(client, method)(reverse(name))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_rep_cannot_complete_an_install(rep_client, httpserver):
    assert rep_client.get(reverse("zoom-oauth-callback"), {"code": "C", "state": "S"}).status_code == 403


def test_settings_and_disconnect_only_touch_the_admins_own_org(admin_client, other_org, zoom_connection):
    other = Connection.objects.create(
        org=other_org,
        provider="zoom",
        status="ok",
        config={"account_id": "ACCT-G", "recording_method": "streaming", "streaming": True},
    )
    settings_post(admin_client, streaming="on", post_call_download="on", recording_method="post_call_download")
    admin_client.post(reverse("zoom-disconnect"))
    other.refresh_from_db()
    zoom_connection.refresh_from_db()
    assert other.status == "ok" and other.config["recording_method"] == "streaming"
    assert zoom_connection.status == "disconnected" and zoom_connection.secrets == {}
