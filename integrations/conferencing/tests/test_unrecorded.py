"""Meetings that ended without a recording become Unrecorded Meetings (seed
"Create Tasks for Unrecorded Meetings"); a user's "Don't record"; the org's
ignored participants and block list."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chorus.models import AuditEvent, Engagement
from crm.push.services import crm_objects_settings_get
from integrations.conferencing import calendars
from integrations.conferencing.models import Calendar, CalendarEvent
from integrations.conferencing.unrecorded import GRACE, unrecorded_meetings_collect
from integrations.models import Connection, Delivery
from testutils.factories import EngagementFactory, ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db
START = timezone.now().replace(microsecond=0) - timedelta(hours=5)
AFTER = START + timedelta(minutes=30) + GRACE + timedelta(minutes=1)
WILLY = {"email": "willy@wonka.example", "name": "Willy Wonka"}
QUERIES_PER_PASS = 31  # 29 + the savepoint that keeps a matching failure from losing the pass


@pytest.fixture
def ada(org):
    return UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def bob(org):
    return UserFactory(org=org, email="bob@acme.example", first_name="Bob", last_name="Builder")


def calendar_of(user):
    return Calendar.objects.get_or_create(org=user.org, user=user, provider="ics")[0]


def meeting(user, *, external_id="m1", title="Discovery", attendees=(WILLY,), start=START, organizer="ada@acme.example",
            **kw):
    return CalendarEvent.objects.create(
        org=user.org, calendar=calendar_of(user), external_id=external_id, title=title, starts_at=start,
        ends_at=start + timedelta(minutes=30), organizer_email=organizer,
        attendees=[{"email": "ada@acme.example"}, {"email": "bob@acme.example"}, *attendees], **kw)


def test_a_meeting_in_two_calendars_becomes_one_unrecorded_meeting(ada, bob, crm_push_ready_calls):
    mine, bobs = meeting(ada), meeting(bob, external_id="bob-copy-of-m1")
    assert unrecorded_meetings_collect(now=AFTER) == {"meetings": 1, "recorded": 0, "unrecorded": 1, "skipped": 0}
    e = Engagement.objects.get()
    assert (e.kind, e.source, e.title, e.owner, e.started_at, e.duration_seconds) == (
        "unrecorded_meeting", "calendar", "Discovery", ada, START, 1800)  # the organizer's, whoever synced first
    people = {p.email: (p.name, p.is_internal) for p in e.participants.all()}
    assert people == {"ada@acme.example": ("Ada Lovelace", True), "bob@acme.example": ("", True),
                      "willy@wonka.example": ("Willy Wonka", False)}
    for event in (mine, bobs):
        event.refresh_from_db()
        assert event.engagement == e and event.outcome_checked_at == AFTER
    # Looked at once; a copy synced later joins the same engagement.
    assert unrecorded_meetings_collect(now=AFTER)["meetings"] == 0
    carol = UserFactory(org=ada.org, email="carol@acme.example")
    late = meeting(carol, external_id="carol-copy")
    assert unrecorded_meetings_collect(now=AFTER + timedelta(minutes=15))["unrecorded"] == 1
    late.refresh_from_db()
    assert late.engagement == e and Engagement.objects.count() == 1
    assert crm_push_ready_calls == [e.id]  # announced ready once, whichever copy came first


def test_a_recorded_meeting_is_linked_to_its_recording(ada, bob, other_org):
    first = meeting(ada)
    second = meeting(bob, external_id="m2", title="Pricing", start=START + timedelta(hours=1),
                     organizer="bob@acme.example")
    by_ada = EngagementFactory(org=ada.org, owner=ada, kind="recording", started_at=START + timedelta(minutes=2))
    # Bob's meeting was recorded by a colleague without a calendar: the attendee gives it away.
    by_colleague = EngagementFactory(org=ada.org, kind="recording", owner=UserFactory(org=ada.org),
                                     started_at=START + timedelta(hours=1, minutes=1))
    ParticipantFactory(engagement=by_colleague, email="Willy@Wonka.example")
    # Another org's recording at the same time means nothing here.
    EngagementFactory(org=other_org, kind="recording", started_at=START)
    assert unrecorded_meetings_collect(now=AFTER + timedelta(hours=1))["recorded"] == 2
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.engagement, second.engagement) == (by_ada, by_colleague)
    assert not Engagement.objects.filter(kind="unrecorded_meeting").exists()


def test_a_double_booked_rep_s_recording_is_the_meeting_it_shares_people_with(ada, bob):
    """Ada is in her own customer call and, on paper, in Bob's at the same time. Her
    recording has Willy in it: it is her meeting's, and Bob's becomes Unrecorded
    whichever is looked at first."""
    bobs = meeting(bob, external_id="bobs", title="Bob's call", organizer="bob@acme.example",
                   attendees=({"email": "jo@initech.example"},))
    meeting(ada, external_id="bobs-in-ada", title="Bob's call", organizer="bob@acme.example",
            attendees=({"email": "jo@initech.example"},))
    mine = meeting(ada, external_id="mine", title="Ada's call")
    recording = EngagementFactory(org=ada.org, owner=ada, kind="recording", started_at=START + timedelta(minutes=1))
    ParticipantFactory(engagement=recording, email="ada@acme.example", is_internal=True)
    ParticipantFactory(engagement=recording, email="willy@wonka.example")
    assert unrecorded_meetings_collect(now=AFTER, limit=2)["meetings"] == 1  # Bob's call first, alone
    assert unrecorded_meetings_collect(now=AFTER)["meetings"] == 1
    mine.refresh_from_db(), bobs.refresh_from_db()
    assert mine.engagement == recording
    assert bobs.engagement.kind == "unrecorded_meeting" and bobs.engagement.title == "Bob's call"


def test_what_is_not_looked_at_or_not_made(ada):
    meeting(ada, external_id="ongoing", start=timezone.now() - timedelta(minutes=40))  # ended 10 min ago
    internal = meeting(ada, external_id="internal", attendees=())
    cancelled = meeting(ada, external_id="cancelled", title="Cancelled", cancelled=True)
    room = meeting(ada, external_id="room", title="Room", attendees=({"email": "c_123@resource.calendar.google.com"},))
    declined = meeting(ada, external_id="declined", title="Declined", attendees=({**WILLY, "declined": True},))
    counts = unrecorded_meetings_collect(now=AFTER)
    assert counts == {"meetings": 4, "recorded": 0, "unrecorded": 0, "skipped": 4}
    assert not Engagement.objects.exists()
    for event in (internal, cancelled, room, declined):
        event.refresh_from_db()
        assert event.outcome_checked_at and event.engagement is None
    assert CalendarEvent.objects.get(external_id="ongoing").outcome_checked_at is None


def test_exclusions_are_carried_to_the_crm_push(ada, org):
    """The seed's three rules, from the calendar to the outbox: only the plain
    customer meeting is pushed as a task."""
    Connection.objects.create(org=org, provider="salesforce", status="ok", config={"instance_url": "https://x"})
    row = crm_objects_settings_get(org=org)
    row.task_unrecorded = True
    row.save()
    org.ignored_participants = ["assistant@partner.example"]
    org.blocked_participants = ["lawyers.example"]
    org.save()
    meeting(ada, external_id="plain", title="Plain")
    meeting(ada, external_id="off", title="Turned off", recording_disabled=True)
    meeting(ada, external_id="ignored", title="Only ignored", attendees=({"email": "assistant@partner.example"},))
    meeting(ada, external_id="blocked", title="Blocked", attendees=(WILLY, {"email": "counsel@eu.lawyers.example"}))
    assert unrecorded_meetings_collect(now=AFTER)["unrecorded"] == 4
    flags = {p.email: (p.is_ignored, p.is_blocklisted) for p in
             Engagement.objects.get(title="Blocked").participants.all()}
    assert flags["counsel@eu.lawyers.example"] == (False, True) and flags["willy@wonka.example"] == (False, False)
    assert Engagement.objects.get(title="Turned off").recording_disabled
    tasks = Delivery.objects.filter(kind="task")
    assert [d.payload["subject"] for d in tasks] == ["Chorus - Plain"]


@pytest.mark.parametrize("n", [5, 30])
def test_collecting_costs_the_same_queries_for_5_or_30_meetings(ada, org, n, django_assert_num_queries):
    """Linking recordings, making Unrecorded Meetings, matching them to accounts and
    queueing their CRM tasks: a fixed number of queries per org, however many. (30:
    past ~33 meetings SQLite's 999 bound parameters split the participants' insert
    in two — batching, not a query per meeting.)"""
    Connection.objects.create(org=org, provider="salesforce", status="ok", config={"instance_url": "https://x"})
    row = crm_objects_settings_get(org=org)
    row.task_unrecorded = True
    row.save()
    for i in range(n):
        start = START - timedelta(hours=i)
        meeting(ada, external_id=f"r{i}", title=f"Recorded {i}", start=start)
        EngagementFactory(org=ada.org, owner=ada, kind="recording", started_at=start)
        meeting(ada, external_id=f"u{i}", title=f"Unrecorded {i}", start=start - timedelta(minutes=30),
                attendees=({"email": f"buyer{i}@customer{i}.example"},))
    with django_assert_num_queries(QUERIES_PER_PASS):
        assert unrecorded_meetings_collect(now=AFTER) == {"meetings": 2 * n, "recorded": n, "unrecorded": n,
                                                          "skipped": 0}
    assert Delivery.objects.filter(kind="task").count() == n


# --- The scan: ignored, block list, turned off ------------------------------------------------


def scanned(ada, attendees, **kw):
    event = meeting(ada, attendees=attendees, external_id=f"scan-{CalendarEvent.objects.count()}",
                    start=timezone.now() + timedelta(days=1), description="https://acme.zoom.us/j/81234567890", **kw)
    event.org.package = "enterprise"
    calendars.meeting_scan(event=event, org=event.org)
    return event


def test_scan_leaves_out_ignored_and_block_listed_people(ada, org):
    org.ignored_participants, org.blocked_participants = ["partner.example"], ["counsel@lawyers.example"]
    org.save()
    assert scanned(ada, [{"email": "pa@partner.example"}]).reason == "not recorded: no external attendee"
    blocked = scanned(ada, [WILLY, {"email": "Counsel@Lawyers.example"}])
    assert (blocked.record, blocked.reason) == (False, "not recorded: Counsel@Lawyers.example is on the block list")
    turned_off = scanned(ada, [WILLY], recording_disabled=True)
    assert (turned_off.record, turned_off.reason) == (False, "not recorded: turned off by the user")


# --- Personal Settings: Don't record ----------------------------------------------------------------


@pytest.fixture
def notetaker(settings, httpserver):
    settings.NOTETAKER_API_URL = httpserver.url_for("/nt").rstrip("/")
    settings.NOTETAKER_API_KEY = "nt-key"
    httpserver.expect_request("/nt/api/v1/bots", method="POST").respond_with_json(
        {"id": "bot_2", "state": "scheduled"}, status=201)
    httpserver.expect_request("/nt/api/v1/bots/bot_1", method="DELETE").respond_with_data("", status=204)
    return httpserver


def test_the_owner_turns_recording_off_and_on_again(client, ada, org, other_org, notetaker):
    org.package = "enterprise"
    org.save()
    event = meeting(ada, start=timezone.now() + timedelta(days=1), description="https://acme.zoom.us/j/81234567890",
                    record=True, notetaker_bot_id="bot_1", notetaker_name="Chorus Notetaker")
    client.force_login(ada)
    page = client.get(reverse("settings-personal")).content.decode()
    assert "Your upcoming meetings" in page and "Don't record</button>" in page
    response = client.post(reverse("meeting-recording", args=[event.pk]), {"record": "0"}, follow=True)
    assert "won&#x27;t record “Discovery”" in response.content.decode()
    event.refresh_from_db()
    assert (event.recording_disabled, event.record, event.notetaker_bot_id) == (True, False, "")
    assert event.reason == "not recorded: turned off by the user"
    assert [(r.method, r.path) for r, _ in notetaker.log] == [("DELETE", "/nt/api/v1/bots/bot_1")]
    assert AuditEvent.objects.filter(action="meeting.recording_off", actor=ada).exists()
    client.post(reverse("meeting-recording", args=[event.pk]), {"record": "1"})
    event.refresh_from_db()
    assert (event.recording_disabled, event.record, event.notetaker_bot_id) == (False, True, "bot_2")
    # A colleague's meeting, another org's: 404, nothing changed.
    theirs = meeting(UserFactory(org=org), external_id="theirs")
    foreign = meeting(UserFactory(org=other_org, email="x@other.example"), external_id="foreign")
    for pk in (theirs.pk, foreign.pk):
        assert client.post(reverse("meeting-recording", args=[pk]), {"record": "0"}).status_code == 404
    assert not CalendarEvent.objects.filter(recording_disabled=True).exists()


# --- Organization Settings: the lists ----------------------------------------------------------------


def test_admin_sets_ignored_participants_and_block_list(admin_client, org):
    url = reverse("settings-organization")
    data = {"name": org.name, "email_domains": "acme.example", "ignored_participants": "@Partner.example\nPA@x.example",
            "blocked_participants": "lawyers.example, counsel@firm.example"}
    assert admin_client.post(url, data).status_code == 302
    org.refresh_from_db()
    assert org.ignored_participants == ["partner.example", "pa@x.example"]
    assert org.blocked_participants == ["lawyers.example", "counsel@firm.example"]
    assert org.is_blocklisted_email("jo@eu.lawyers.example") and not org.is_blocklisted_email("jo@lawyers.example.com")
    bad = admin_client.post(url, {**data, "blocked_participants": "lawyers.example\nnot an address"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "“not” is neither an email address nor a domain" in html and "lawyers.example" in html
    org.refresh_from_db()
    assert org.blocked_participants == ["lawyers.example", "counsel@firm.example"]
