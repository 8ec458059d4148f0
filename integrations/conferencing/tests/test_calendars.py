"""Calendars (ICS, Google sync tokens, Microsoft delta links), the scan's
decisions and the notetaker bot schedule, against local fakes. Microsoft sign-in
goes through msal against a local HTTPS authority (trustme CA, trusted through
``REQUESTS_CA_BUNDLE``; ``instance_discovery=False``), as CRM Connect's Dynamics
tests do."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from integrations.conferencing import calendars, ics
from integrations.conferencing import tasks as conferencing_tasks
from integrations.conferencing.calendars.sync import CALENDAR_SYNC_JOB
from integrations.conferencing.models import Calendar, CalendarEvent
from integrations.models import JobLease
from integrations.scheduler import scheduler_run_inline
from testutils.factories import UserFactory

pytestmark = pytest.mark.django_db


def stamp(dt):
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@pytest.fixture
def notetaker(settings, httpserver):
    settings.NOTETAKER_API_URL = httpserver.url_for("/nt").rstrip("/")
    settings.NOTETAKER_API_KEY = "nt-key"
    settings.CALENDAR_ICS_ALLOW_PRIVATE = True
    counter = iter(range(1, 1000))
    httpserver.expect_request("/nt/api/v1/bots", method="POST").respond_with_handler(
        lambda r: __import__("werkzeug").Response(
            json.dumps({"id": f"bot_{next(counter)}", "state": "scheduled"}),
            content_type="application/json",
            status=201,
        )
    )
    return httpserver


def bot_calls(httpserver):
    return [
        (r.method, r.path, json.loads(r.data) if r.data else None)
        for r, _ in httpserver.log
        if r.path.startswith("/nt/")
    ]


def feed(*events):
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//EN", *events, "END:VCALENDAR"])
    return body


def vevent(uid, start, *, summary="Discovery", attendees=("willy@wonka.example",), location="", extra=()):
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTART:{stamp(start)}",
        f"DTEND:{stamp(start + timedelta(minutes=30))}",
        f"SUMMARY:{summary}",
        "ORGANIZER;CN=Ada:mailto:ada@acme.example",
        f"LOCATION:{location}",
        *[f"ATTENDEE;CN=x;PARTSTAT=ACCEPTED:mailto:{a}" for a in attendees],
        *extra,
        "END:VEVENT",
    ]
    return "\r\n".join(lines)


@pytest.fixture
def enterprise(org):
    org.package = "enterprise"
    org.notetaker_display_name = "Acme Notes"
    org.save()
    return org


@pytest.fixture
def ada(enterprise):
    return UserFactory(org=enterprise, email="ada@acme.example")


def ics_calendar(user, httpserver):
    return Calendar.objects.create(
        org=user.org, user=user, provider="ics", secrets={"url": httpserver.url_for("/feed.ics")}
    )


# --- ICS reader --------------------------------------------------------------------------------


def test_ics_reader_handles_folding_escapes_timezones_recurrence_and_alarms():
    text = feed(
        "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTART;TZID=Europe/Paris:20261130T100000\r\nDTEND;TZID=Europe/Paris:20261130T103000"
        "\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=Europe/Paris:20261207T100000\r\nSUMMARY:Weekly\\, with Wonka"
        "\r\nDESCRIPTION:Join: https://acme.zoom.us/j/8123\r\n 4567890\\nThanks\r\n"
        'ATTENDEE;CN="Wonka, Willy";PARTSTAT=DECLINED:mailto:Willy@Wonka.example\r\n'
        "BEGIN:VALARM\r\nTRIGGER:-PT10M\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\nEND:VEVENT",
        "BEGIN:VEVENT\r\nUID:weekly-1\r\nRECURRENCE-ID;TZID=Europe/Paris:20261214T100000\r\n"
        "DTSTART;TZID=Europe/Paris:20261214T150000\r\nDURATION:PT45M\r\nSUMMARY:Moved\r\nEND:VEVENT",
        "BEGIN:VEVENT\r\nUID:gone\r\nDTSTART:20261201T090000Z\r\nSTATUS:CANCELLED\r\nEND:VEVENT",
    )
    events = ics.parse(
        text, window_start=datetime(2026, 11, 29, tzinfo=UTC), window_end=datetime(2026, 12, 31, tzinfo=UTC)
    )
    assert [(e.summary, e.starts_at.astimezone(UTC).strftime("%m-%d %H:%M")) for e in events] == [
        ("Weekly, with Wonka", "11-30 09:00"),
        ("", "12-01 09:00"),
        ("Moved", "12-14 14:00"),
        ("Weekly, with Wonka", "12-21 09:00"),
    ]
    first = events[0]
    assert first.description == "Join: https://acme.zoom.us/j/81234567890\nThanks"
    assert first.attendees == [{"email": "willy@wonka.example", "declined": True}]
    assert events[1].cancelled and events[2].ends_at - events[2].starts_at == timedelta(minutes=45)
    assert len({e.external_id for e in events}) == 4


# --- ICS sync + notetaker schedule ----------------------------------------------------------------


def test_ics_sync_schedules_moves_and_cancels_the_notetaker(ada, notetaker):
    soon = timezone.now().replace(microsecond=0) + timedelta(days=2)
    zoom = "https://acme.zoom.us/j/81234567890"
    notetaker.expect_request("/feed.ics").respond_with_data(
        feed(
            vevent("ext", soon, location=zoom),
            vevent("int", soon + timedelta(hours=1), attendees=("bob@acme.example",), location=zoom),
            vevent("meet", soon + timedelta(hours=2), location="https://meet.google.com/abc-defg-hij"),
            vevent("nolink", soon + timedelta(hours=3), location="Room 4B"),
        ),
        content_type="text/calendar",
    )
    calendar = ics_calendar(ada, notetaker)
    calendars.calendar_sync(calendar=calendar)
    calendar.refresh_from_db()
    assert calendar.status == "ok", calendar.last_error

    by_id = {e.external_id: e for e in CalendarEvent.objects.all()}
    assert (by_id["ext"].record, by_id["ext"].reason) == (
        True,
        "recorded: Zoom link and external attendee willy@wonka.example",
    )
    assert by_id["int"].reason == "not recorded: no external attendee" and not by_id["int"].notetaker_bot_id
    assert by_id["nolink"].reason == "not recorded: no supported web conferencing link"
    posts = [c[2] for c in bot_calls(notetaker) if c[0] == "POST"]
    assert posts == [
        {
            "meeting_url": zoom,
            "bot_name": "Acme Notes",
            "join_at": (soon - timedelta(minutes=1)).isoformat(),
            "metadata": {"org": str(ada.org_id), "calendar_event": str(by_id["ext"].pk)},
        },
        {
            "meeting_url": "https://meet.google.com/abc-defg-hij",
            "bot_name": "Chorus Notetaker",  # no renaming on Meet
            "join_at": (soon + timedelta(hours=2) - timedelta(minutes=1)).isoformat(),
            "metadata": {"org": str(ada.org_id), "calendar_event": str(by_id["meet"].pk)},
        },
    ]
    assert all(r.headers["Authorization"] == "Token nt-key" for r, _ in notetaker.log if r.path.startswith("/nt/"))
    assert by_id["ext"].notetaker_bot_id == "bot_1"

    # The meeting moves by an hour and the Meet one is dropped from the feed.
    notetaker.clear_log()
    notetaker.clear()
    notetaker.expect_request("/feed.ics").respond_with_data(
        feed(
            vevent("ext", soon + timedelta(hours=1), location=zoom),
            vevent("int", soon + timedelta(hours=1), attendees=("bob@acme.example",), location=zoom),
        ),
        content_type="text/calendar",
    )
    notetaker.expect_request("/nt/api/v1/bots/bot_1", method="PATCH").respond_with_json({"id": "bot_1"})
    notetaker.expect_request("/nt/api/v1/bots/bot_2", method="DELETE").respond_with_data("", status=204)
    calendars.calendar_sync(calendar=calendar)
    assert bot_calls(notetaker) == [
        ("PATCH", "/nt/api/v1/bots/bot_1", {"join_at": (soon + timedelta(hours=1) - timedelta(minutes=1)).isoformat()}),
        ("DELETE", "/nt/api/v1/bots/bot_2", None),
    ]
    meet = CalendarEvent.objects.get(external_id="meet")
    assert meet.cancelled and meet.notetaker_bot_id == "" and meet.reason == "not recorded: the meeting was cancelled"


def test_zoom_meetings_use_the_native_integration_when_it_records(ada, notetaker, enterprise):
    from integrations.models import Connection

    Connection.objects.create(
        org=enterprise,
        provider="zoom",
        status="ok",
        config={"account_id": "A", "streaming": True, "recording_method": "streaming"},
    )
    soon = timezone.now() + timedelta(days=1)
    notetaker.expect_request("/feed.ics").respond_with_data(
        feed(vevent("z", soon, location="https://acme.zoom.us/j/81234567890"))
    )
    calendars.calendar_sync(calendar=ics_calendar(ada, notetaker))
    event = CalendarEvent.objects.get()
    assert event.record and event.reason == "recorded natively through Zoom (Streaming)"
    assert not bot_calls(notetaker)


def test_standard_package_has_no_notetaker_bot(org, notetaker):
    user = UserFactory(org=org, email="ada@acme.example")
    notetaker.expect_request("/feed.ics").respond_with_data(
        feed(vevent("x", timezone.now() + timedelta(days=1), location="https://meet.google.com/abc-defg-hij"))
    )
    calendars.calendar_sync(calendar=ics_calendar(user, notetaker))
    event = CalendarEvent.objects.get()
    assert not event.record and "Enterprise package" in event.reason and not bot_calls(notetaker)


def test_notetaker_outage_is_shown_not_raised(ada, settings, httpserver):
    settings.NOTETAKER_API_URL = httpserver.url_for("/nt").rstrip("/")
    settings.NOTETAKER_API_KEY = "k"
    settings.CALENDAR_ICS_ALLOW_PRIVATE = True
    httpserver.expect_request("/nt/api/v1/bots").respond_with_data("down", status=503)
    httpserver.expect_request("/feed.ics").respond_with_data(
        feed(vevent("x", timezone.now() + timedelta(days=1), location="https://acme.zoom.us/j/81234567890"))
    )
    calendar = ics_calendar(ada, httpserver)
    calendars.calendar_sync(calendar=calendar)
    event = CalendarEvent.objects.get()
    assert event.notetaker_error == "The Notetaker service answered 503." and event.notetaker_bot_id == ""
    calendar.refresh_from_db()
    assert calendar.status == "ok"


def test_feed_that_is_not_a_calendar_fails_with_a_sentence(ada, notetaker):
    notetaker.expect_request("/feed.ics").respond_with_data("<html>login</html>", content_type="text/html")
    calendar = calendars.calendar_sync(calendar=ics_calendar(ada, notetaker))
    assert calendar.status == "failed" and calendar.last_error == "This address does not return a calendar (ICS) feed."


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://calendar.example/feed.ics", "https://"),
        ("https://127.0.0.1/feed.ics", "private network"),
        ("https://10.1.2.3/feed.ics", "private network"),
        ("https://[::1]/feed.ics", "private network"),
        ("ftp://x/y", "https://"),
    ],
)
def test_ics_urls_cannot_reach_inside(url, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match=message):
        calendars.ics_url_check(url)


# --- Google Calendar (sync tokens) -----------------------------------------------------------------


def google_item(id_, start, **extra):
    return {
        "id": id_,
        "status": "confirmed",
        "summary": "Demo",
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(minutes=30)).isoformat()},
        "organizer": {"email": "ada@acme.example"},
        "attendees": [
            {"email": "ada@acme.example", "responseStatus": "accepted"},
            {"email": "willy@wonka.example", "responseStatus": "needsAction"},
            {"email": "room@resource.calendar.google.com", "resource": True},
        ],
        "hangoutLink": "https://meet.google.com/abc-defg-hij",
        **extra,
    }


def test_google_sync_uses_and_renews_sync_tokens(ada, notetaker, settings):
    settings.GOOGLE_API_URL = notetaker.url_for("/g").rstrip("/")
    settings.GOOGLE_OAUTH_URL = notetaker.url_for("/gauth").rstrip("/")
    calendar = Calendar.objects.create(
        org=ada.org,
        user=ada,
        provider="google",
        secrets={"access_token": "G-ACCESS", "refresh_token": "G-REFRESH", "expires_at": "2999-01-01T00:00:00+00:00"},
    )
    soon = timezone.now().replace(microsecond=0) + timedelta(days=1)
    path = "/g/calendar/v3/calendars/primary/events"
    notetaker.expect_ordered_request(path).respond_with_json(
        {"items": [google_item("e1", soon)], "nextPageToken": "P2"}
    )
    notetaker.expect_ordered_request(path).respond_with_json({"items": [], "nextSyncToken": "SYNC-1"})
    calendars.calendar_sync(calendar=calendar)
    calendar.refresh_from_db()
    assert calendar.status == "ok" and calendar.sync_state == {"sync_token": "SYNC-1"}
    first, second = [r for r, _ in notetaker.log if r.path == path]
    assert "timeMin" in first.args and first.args["singleEvents"] == "true" and "syncToken" not in first.args
    assert second.args["pageToken"] == "P2" and first.headers["Authorization"] == "Bearer G-ACCESS"
    assert CalendarEvent.objects.get().notetaker_bot_id == "bot_1"

    # Incremental: the event was cancelled; then the token expires (410) and a full sync follows.
    notetaker.clear_log()
    notetaker.expect_ordered_request(path).respond_with_json(
        {"items": [{"id": "e1", "status": "cancelled"}], "nextSyncToken": "SYNC-2"}
    )
    notetaker.expect_request("/nt/api/v1/bots/bot_1", method="DELETE").respond_with_data("", status=204)
    calendars.calendar_sync(calendar=calendar)
    (incremental,) = [r for r, _ in notetaker.log if r.path == path]
    assert incremental.args["syncToken"] == "SYNC-1" and "timeMin" not in incremental.args
    assert ("DELETE", "/nt/api/v1/bots/bot_1", None) in bot_calls(notetaker)
    assert CalendarEvent.objects.get().cancelled

    notetaker.expect_ordered_request(path).respond_with_json({"error": {"code": 410}}, status=410)
    notetaker.expect_ordered_request(path).respond_with_json({"items": [], "nextSyncToken": "SYNC-3"})
    calendars.calendar_sync(calendar=calendar)
    calendar.refresh_from_db()
    assert calendar.sync_state == {"sync_token": "SYNC-3"}


def test_expired_google_token_is_refreshed(ada, notetaker, settings):
    settings.GOOGLE_API_URL = notetaker.url_for("/g").rstrip("/")
    settings.GOOGLE_OAUTH_URL = notetaker.url_for("/gauth").rstrip("/")
    settings.GOOGLE_CLIENT_ID, settings.GOOGLE_CLIENT_SECRET = "gid", "gsecret"
    calendar = Calendar.objects.create(
        org=ada.org,
        user=ada,
        provider="google",
        secrets={"access_token": "OLD", "refresh_token": "G-REFRESH", "expires_at": "2000-01-01T00:00:00+00:00"},
    )
    notetaker.expect_request("/gauth/o/oauth2/token", method="POST").respond_with_json(
        {"access_token": "NEW", "expires_in": 3599}
    )
    notetaker.expect_request("/g/calendar/v3/calendars/primary/events").respond_with_json(
        {"items": [], "nextSyncToken": "S"}
    )
    calendars.calendar_sync(calendar=calendar)
    calendar.refresh_from_db()
    assert calendar.secrets["access_token"] == "NEW" and calendar.secrets["refresh_token"] == "G-REFRESH"
    (refresh,) = [r for r, _ in notetaker.log if r.path == "/gauth/o/oauth2/token"]
    assert dict(refresh.form) == {
        "grant_type": "refresh_token",
        "refresh_token": "G-REFRESH",
        "client_id": "gid",
        "client_secret": "gsecret",
    }


# --- Microsoft 365 (delta links) ---------------------------------------------------------------------


def test_microsoft_delta_sync_follows_next_links_and_keeps_the_delta_link(ada, notetaker, settings):
    settings.MICROSOFT_GRAPH_URL = notetaker.url_for("/graph").rstrip("/")
    calendar = Calendar.objects.create(
        org=ada.org,
        user=ada,
        provider="microsoft",
        secrets={"access_token": "M-ACCESS", "refresh_token": "R", "expires_at": "2999-01-01T00:00:00+00:00"},
    )
    soon = (timezone.now() + timedelta(days=1)).replace(microsecond=0, tzinfo=None)
    item = {
        "id": "m1",
        "subject": "Pricing",
        "start": {"dateTime": soon.isoformat() + ".0000000", "timeZone": "UTC"},
        "end": {"dateTime": (soon + timedelta(minutes=30)).isoformat(), "timeZone": "UTC"},
        "organizer": {"emailAddress": {"address": "ada@acme.example"}},
        "attendees": [
            {"type": "required", "emailAddress": {"address": "willy@wonka.example"}, "status": {"response": "accepted"}}
        ],
        "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0"},
    }
    notetaker.expect_ordered_request("/graph/me/calendarView/delta").respond_with_json(
        {"value": [item], "@odata.nextLink": notetaker.url_for("/graph/me/calendarView/delta?$skiptoken=2")}
    )
    notetaker.expect_ordered_request("/graph/me/calendarView/delta").respond_with_json(
        {"value": [], "@odata.deltaLink": notetaker.url_for("/graph/me/calendarView/delta?$deltatoken=D1")}
    )
    calendars.calendar_sync(calendar=calendar)
    calendar.refresh_from_db()
    assert calendar.status == "ok", calendar.last_error
    assert calendar.sync_state["delta_link"].endswith("$deltatoken=D1")
    event = CalendarEvent.objects.get()
    assert event.record and event.conference_provider == "teams" and event.notetaker_bot_id == "bot_1"
    assert event.starts_at == soon.replace(tzinfo=UTC)
    first = [r for r, _ in notetaker.log if r.path == "/graph/me/calendarView/delta"][0]
    assert first.headers["Authorization"] == "Bearer M-ACCESS" and 'outlook.timezone="UTC"' in first.headers["Prefer"]


@pytest.fixture
def microsoft(https_fake, settings):
    """A local Microsoft identity platform (HTTPS): msal reads the ``common``
    authority's OpenID configuration, then uses its token endpoint."""
    _authority = https_fake
    base = _authority.url_for("").rstrip("/")
    settings.MICROSOFT_AUTHORITY_URL = base
    settings.MICROSOFT_CLIENT_ID, settings.MICROSOFT_CLIENT_SECRET = "ms-client-id", "ms-client-secret"
    settings.CHORUS_BASE_URL = "https://chorus.test"
    _authority.expect_request("/common/v2.0/.well-known/openid-configuration").respond_with_json({
        "authorization_endpoint": f"{base}/common/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/common/oauth2/v2.0/token",
        "issuer": f"{base}/{{tenantid}}/v2.0", "jwks_uri": f"{base}/common/discovery/v2.0/keys"})
    return _authority


def token_requests(server):
    return [r for r, _ in server.log if r.path == "/common/oauth2/v2.0/token" and r.method == "POST"]


def test_microsoft_connect_signs_in_through_msal(client, ada, microsoft, django_capture_on_commit_callbacks):
    client.force_login(ada)
    location = client.post(reverse("calendar-connect", args=["microsoft"]))["Location"]
    assert location.startswith(microsoft.url_for("/common/oauth2/v2.0/authorize?"))
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["client_id"] == "ms-client-id" and query["login_hint"] == "ada@acme.example"
    assert query["redirect_uri"] == "https://chorus.test/integrations/microsoft/oauth/"
    assert {"Calendars.Read", "offline_access", "openid"} <= set(query["scope"].split())
    assert query["code_challenge_method"] == "S256" and query["state"] == client.session["calendar_oauth"]["state"]

    microsoft.expect_request("/common/oauth2/v2.0/token", method="POST").respond_with_json(
        {"token_type": "Bearer", "access_token": "M-ACCESS", "refresh_token": "M-REFRESH", "expires_in": 3600,
         "scope": "Calendars.Read email"})
    with django_capture_on_commit_callbacks() as queued:
        response = client.get(reverse("calendar-oauth-callback", args=["microsoft"]),
                              {"code": "MS-CODE", "state": query["state"]}, follow=True)

    assert "Microsoft 365 is connected" in response.content.decode()
    (token,) = token_requests(microsoft)
    assert token.form["grant_type"] == "authorization_code" and token.form["code"] == "MS-CODE"
    assert token.form["client_secret"] == "ms-client-secret" and token.form["code_verifier"]
    assert token.form["redirect_uri"] == query["redirect_uri"]
    calendar = Calendar.objects.get(user=ada, provider="microsoft")
    assert calendar.secrets["access_token"] == "M-ACCESS" and calendar.secrets["refresh_token"] == "M-REFRESH"
    assert calendar.status == "queued" and len(queued) == 1


def test_microsoft_callback_with_a_forged_state_changes_nothing(client, ada, microsoft):
    client.force_login(ada)
    client.post(reverse("calendar-connect", args=["microsoft"]))
    response = client.get(reverse("calendar-oauth-callback", args=["microsoft"]),
                          {"code": "C", "state": "forged"}, follow=True)
    assert "could not be verified" in response.content.decode()
    assert not token_requests(microsoft) and not Calendar.objects.exists()


def test_unreachable_microsoft_sign_in_is_a_sentence(client, ada, microsoft):
    microsoft.clear()  # no OpenID configuration served: msal cannot start the flow
    client.force_login(ada)
    location = urlsplit(client.post(reverse("calendar-connect", args=["microsoft"]))["Location"])
    # Straight back to Chorus' callback, with OAuth's own "try again later" error.
    assert location.path == reverse("calendar-oauth-callback", args=["microsoft"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["error"] == "temporarily_unavailable"
    response = client.get(location.path, query, follow=True)
    assert "could not be reached" in response.content.decode() and not Calendar.objects.exists()


def test_expired_microsoft_token_is_refreshed_through_msal(ada, notetaker, microsoft, settings):
    settings.MICROSOFT_GRAPH_URL = notetaker.url_for("/graph").rstrip("/")
    calendar = Calendar.objects.create(
        org=ada.org,
        user=ada,
        provider="microsoft",
        secrets={"access_token": "OLD", "refresh_token": "M-REFRESH", "expires_at": "2000-01-01T00:00:00+00:00"},
    )
    microsoft.expect_request("/common/oauth2/v2.0/token", method="POST").respond_with_json(
        {"token_type": "Bearer", "access_token": "NEW", "expires_in": 3599, "scope": "Calendars.Read email"})
    notetaker.expect_request("/graph/me/calendarView/delta").respond_with_json(
        {"value": [], "@odata.deltaLink": notetaker.url_for("/graph/me/calendarView/delta?$deltatoken=D")})

    calendars.calendar_sync(calendar=calendar)

    calendar.refresh_from_db()
    assert calendar.status == "ok", calendar.last_error
    assert calendar.secrets["access_token"] == "NEW" and calendar.secrets["refresh_token"] == "M-REFRESH"
    (refresh,) = token_requests(microsoft)
    assert refresh.form["grant_type"] == "refresh_token" and refresh.form["refresh_token"] == "M-REFRESH"
    assert refresh.form["client_id"] == "ms-client-id" and "Calendars.Read" in refresh.form["scope"].split()
    (graph,) = [r for r, _ in notetaker.log if r.path == "/graph/me/calendarView/delta"]
    assert graph.headers["Authorization"] == "Bearer NEW"


def test_revoked_microsoft_refresh_token_asks_to_connect_again(ada, microsoft):
    calendar = Calendar.objects.create(
        org=ada.org, user=ada, provider="microsoft",
        secrets={"access_token": "OLD", "refresh_token": "M-REFRESH", "expires_at": "2000-01-01T00:00:00+00:00"},
    )
    microsoft.expect_request("/common/oauth2/v2.0/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "AADSTS700082: The refresh token has expired"}, status=400)
    calendars.calendar_sync(calendar=calendar)
    calendar.refresh_from_db()
    assert calendar.status == "failed"
    assert calendar.last_error == "The calendar no longer accepts Chorus' access: connect it again."


# --- Views, tenancy, the rules partial ------------------------------------------------------------------


def test_user_connects_an_ics_feed_and_only_manages_their_own(
    client, ada, enterprise, other_org, settings, django_capture_on_commit_callbacks
):
    settings.CALENDAR_ICS_ALLOW_PRIVATE = True
    client.force_login(ada)
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(reverse("calendar-ics"), {"url": "http://127.0.0.1:9/feed.ics"})
    calendar = Calendar.objects.get(user=ada)
    assert calendar.provider == "ics" and len(callbacks) == 1
    colleague = UserFactory(org=enterprise)
    theirs = Calendar.objects.create(org=enterprise, user=colleague, provider="ics", secrets={"url": "https://x"})
    foreign = Calendar.objects.create(
        org=other_org, user=UserFactory(org=other_org), provider="ics", secrets={"url": "https://y"}
    )
    for pk in (theirs.pk, foreign.pk):
        assert client.post(reverse("calendar-sync", args=[pk])).status_code == 404
        assert client.post(reverse("calendar-disconnect", args=[pk])).status_code == 404
    assert Calendar.objects.count() == 3


def test_bad_ics_url_is_explained(client, ada):
    client.force_login(ada)
    response = client.post(reverse("calendar-ics"), {"url": "http://calendar.example/feed.ics"}, follow=True)
    assert "https://" in response.content.decode() and not Calendar.objects.exists()


def test_google_connect_checks_the_state(client, ada, settings, httpserver):
    settings.GOOGLE_OAUTH_URL = httpserver.url_for("/gauth").rstrip("/")
    client.force_login(ada)
    location = client.post(reverse("calendar-connect", args=["google"]))["Location"]
    assert "access_type=offline" in location and "calendar.readonly" in location
    response = client.get(
        reverse("calendar-oauth-callback", args=["google"]), {"code": "C", "state": "forged"}, follow=True
    )
    assert "could not be verified" in response.content.decode() and not Calendar.objects.exists()


def test_recording_rules_partial_lists_reasons(ada, enterprise):
    calendar = Calendar.objects.create(org=enterprise, user=ada, provider="ics")
    CalendarEvent.objects.create(
        org=enterprise,
        calendar=calendar,
        external_id="1",
        title="Internal sync",
        starts_at=timezone.now() + timedelta(hours=2),
        reason="not recorded: no external attendee",
    )
    html = render_to_string(
        "conferencing/_recording_rules.html", {"rules": calendars.recording_rules_context(org=enterprise)}
    )
    assert "Internal sync" in html and "not recorded: no external attendee" in html
    assert "Cisco WebEx (may require customization)" in html and "Google Meet" in html


def test_due_calendars_are_queued(ada, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: queued.append(a[1]))
    fresh = Calendar.objects.create(org=ada.org, user=ada, provider="ics", status="ok", last_synced_at=timezone.now())
    old = Calendar.objects.create(
        org=ada.org, user=ada, provider="google", status="ok", last_synced_at=timezone.now() - timedelta(hours=1)
    )
    never = Calendar.objects.create(org=ada.org, user=ada, provider="microsoft", status="queued")
    with django_capture_on_commit_callbacks(execute=True):
        assert calendars.calendars_sync_due() == 2
    assert sorted(queued) == sorted([f"calendar:{old.pk}", f"calendar:{never.pk}"])
    assert f"calendar:{fresh.pk}" not in queued


def test_personal_calendar_partial_renders(rf, ada):
    request = rf.get("/settings/personal/")
    request.user = ada
    Calendar.objects.create(org=ada.org, user=ada, provider="google", status="failed", last_error="Token revoked.")
    html = render_to_string(
        "conferencing/_calendar.html", {"cal": calendars.calendar_personal_context(request)}, request=request
    )
    assert "Google Calendar" in html and "Microsoft 365" in html and "ICS feed" in html
    assert "Token revoked." in html and "Sync now" in html and 'name="url"' in html


def test_a_killed_workers_calendar_sync_is_taken_over_once_its_lease_passes(ada, notetaker):
    """Every sync — scheduled, connecting, "Sync now" — holds the calendar's lease, so a
    calendar left "syncing" by a killed worker is due again once the lease passes (not
    after a status timeout of its own), and a live sync is never run twice."""
    notetaker.expect_request("/feed.ics").respond_with_data(feed(), content_type="text/calendar")
    calendar = ics_calendar(ada, notetaker)
    Calendar.objects.filter(pk=calendar.pk).update(status="syncing", last_synced_at=timezone.now() - timedelta(hours=1))
    lease = JobLease.objects.create(job=CALENDAR_SYNC_JOB, key=f"calendar:{calendar.pk}", org_id=ada.org_id,
                                    provider="ics", held_until=timezone.now() + timedelta(seconds=60), token="alive")
    assert scheduler_run_inline(CALENDAR_SYNC_JOB) == {
        f"calendar:{calendar.pk}": {"skipped": "running on another worker"}}
    assert conferencing_tasks.calendar_sync_task(calendar.pk) == {"skipped": "running on another worker"}  # Sync now
    calendar.refresh_from_db()
    assert calendar.status == "syncing"

    JobLease.objects.filter(pk=lease.pk).update(held_until=timezone.now() - timedelta(seconds=1))  # the worker died
    assert conferencing_tasks.calendar_sync_task(calendar.pk) == {"status": "ok"}
    calendar.refresh_from_db()
    assert calendar.status == "ok" and calendar.last_error == ""
