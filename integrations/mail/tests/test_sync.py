"""Mailboxes as a whole: one email in two colleagues' mailboxes is one engagement,
announced once; Retry-After; connections without the mail scope; tenancy; the
schedule."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import Engagement
from integrations.conferencing import calendars
from integrations.conferencing.models import Calendar
from integrations.mail.models import Mailbox
from integrations.mail.sync import mailbox_sync, mailboxes_sync_due
from integrations.mail.tests.conftest import ago, mailbox_for
from integrations.scheduler import Unit, scheduler_run
from testutils.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_one_email_in_two_mailboxes_is_one_engagement_owned_by_its_sender(
        org, ada, bob, gmail, graph, crm_push_ready_calls):
    ada_mail, bob_mail = gmail("G-ADA"), gmail("G-BOB")
    sent = ago(hours=1)
    kw = {"subject": "Proposal", "sender": "Ada <ada@acme.example>", "to": ["willy@wonka.example"],
          "cc": ["bob@acme.example"], "sent": sent, "message_id": "<proposal-1@acme.example>"}
    ada_mail.add(**kw, labels=("SENT",))
    bob_mail.add(**kw)
    # Bob's mailbox is read first: the owner is still Ada, who sent it.
    mailbox_sync(mailbox=mailbox_for(bob, "google", "G-BOB"))
    mailbox_sync(mailbox=mailbox_for(ada, "google", "G-ADA"))
    # The same email also reached a colleague on Microsoft 365 (a mixed org): still one.
    carol = UserFactory(org=org, email="carol@acme.example")
    g = graph("M-CAROL")
    g.add("inbox", subject="Proposal", sender="Ada ada@acme.example", to=["willy@wonka.example"],
          cc=["carol@acme.example"], sent=sent, message_id="<proposal-1@acme.example>")
    mailbox_sync(mailbox=mailbox_for(carol, "microsoft", "M-CAROL"))

    (email,) = Engagement.objects.filter(kind="email")
    assert email.owner == ada and email.external_id == "<proposal-1@acme.example>"
    assert email.started_at == sent and crm_push_ready_calls == [email.id]  # announced once
    assert sorted(email.participants.values_list("email", flat=True)) == [
        "ada@acme.example", "bob@acme.example", "willy@wonka.example"]
    assert list(Mailbox.objects.values_list("imported", flat=True).order_by("id")) == [1, 0, 0]


def test_a_received_email_from_an_outsider_is_owned_by_the_mailbox_owner(org, ada, gmail):
    gmail().add(subject="Hello", sender="willy@wonka.example", to=["ada@acme.example", "zed@acme.example"],
                sent=ago(hours=1))
    mailbox_sync(mailbox=mailbox_for(ada, "google", "G-ACCESS"))
    assert Engagement.objects.get(kind="email").owner == ada


def test_rate_limit_waits_its_retry_after_without_failing(org, ada, gmail, graph):
    g = gmail()
    g.add(subject="Hello", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(hours=1))
    g.rate_limit = ["120"]
    mailbox = mailbox_sync(mailbox=mailbox_for(ada, "google", "G-ACCESS"))
    assert mailbox.status == "waiting" and mailbox.last_error == ""
    assert timedelta(seconds=110) < mailbox.next_attempt_at - timezone.now() <= timedelta(seconds=120)
    # Not before its time: neither the claim nor the schedule takes it.
    assert mailbox_sync(mailbox=mailbox).status == "waiting" and not Engagement.objects.exists()
    assert mailboxes_sync_due() == 0
    Mailbox.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert mailbox_sync(mailbox=mailbox).status == "ok"
    assert Engagement.objects.filter(kind="email").count() == 1

    m = graph()
    m.rate_limit = ["7"]
    bob = UserFactory(org=org, email="bob@acme.example")
    waiting = mailbox_sync(mailbox=mailbox_for(bob, "microsoft", "M-ACCESS"))
    assert waiting.status == "waiting" and waiting.next_attempt_at <= timezone.now() + timedelta(seconds=7)


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_connection_without_the_mail_scope_asks_to_reconnect_and_the_calendar_still_syncs(
        org, ada, gmail, graph, provider, httpserver):
    if provider == "google":
        gmail().scopes = set()
        httpserver.expect_request("/g/calendar/v3/calendars/primary/events").respond_with_json(
            {"items": [], "nextSyncToken": "S1"})
    else:
        graph().mail_scope = False
        httpserver.expect_request("/graph/me/calendarView/delta").respond_with_json(
            {"value": [], "@odata.deltaLink": httpserver.url_for("/graph/me/calendarView/delta?$deltatoken=D")})
    mailbox = mailbox_sync(mailbox=mailbox_for(ada, provider, "G-ACCESS" if provider == "google" else "M-ACCESS"))
    assert mailbox.status == "reconnect" and mailbox.last_error == "Reconnect your calendar to import emails."
    calendar = calendars.calendar_sync(calendar=Calendar.objects.get())
    assert calendar.status == "ok", calendar.last_error


def test_another_orgs_mailbox_never_writes_into_this_org(org, other_org, ada, gmail):
    stranger = UserFactory(org=other_org, email="sam@globex.example")
    g = gmail("G-SAM")
    # Globex emailed Acme's Ada: in Globex's mailbox, it is Globex's email, with Ada as an outsider.
    g.add(subject="To Acme", sender="sam@globex.example", to=["ada@acme.example"], sent=ago(hours=1),
          message_id="<shared@globex.example>")
    gmail("G-ADA").add(subject="To Acme", sender="sam@globex.example", to=["ada@acme.example"], sent=ago(hours=1),
                       message_id="<shared@globex.example>")
    mailbox_sync(mailbox=mailbox_for(stranger, "google", "G-SAM"))
    assert not Engagement.objects.filter(org=org).exists()
    theirs = Engagement.objects.get(org=other_org)
    assert theirs.owner == stranger and not theirs.participants.get(email="ada@acme.example").is_internal
    # Ada's own copy is Acme's engagement (same Message-ID, other tenant): each org has its one.
    mailbox_sync(mailbox=mailbox_for(ada, "google", "G-ADA"))
    mine = Engagement.objects.get(org=org)
    assert mine.owner == ada and mine.participants.get(email="ada@acme.example").is_internal
    assert all(p.org_id == org.id for p in mine.participants.all())


def test_the_schedule_makes_mailboxes_takes_over_dead_claims_and_queues_due_ones(org, ada, monkeypatch,
                                                                              django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: queued.append((func, a)))
    google = Calendar.objects.create(org=org, user=ada, provider="google", secrets={})
    Calendar.objects.create(org=org, user=ada, provider="ics", secrets={"url": "https://x"})
    from django.db import transaction
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        assert mailboxes_sync_due() == 1
    mailbox = Mailbox.objects.get()
    assert mailbox.calendar == google and mailbox.org == org
    assert queued == [("integrations.scheduler.scheduler_run_task",
                       ("mailbox_sync", f"mailbox:{mailbox.pk}", org.pk, "google"))]
    assert mailboxes_sync_due() == 0  # its task is queued already: not a second one
    from integrations.models import JobLease

    JobLease.objects.update(queued_until=None)  # the queued task ran
    # Still "syncing": skipped while its run holds the lease; once the lease passes (the
    # worker died) it is queued again, and its run releases the leftover claim.
    Mailbox.objects.update(status="syncing", last_synced_at=timezone.now() - timedelta(minutes=11))
    JobLease.objects.update(held_until=timezone.now() + timedelta(seconds=60), token="alive")
    assert mailboxes_sync_due() == 0
    JobLease.objects.update(held_until=timezone.now() - timedelta(seconds=1))
    assert mailboxes_sync_due() == 1
    result = scheduler_run("mailbox_sync", Unit(key=f"mailbox:{mailbox.pk}", org_id=org.pk, provider="google"))
    assert result["status"] == Mailbox.objects.get().status != "syncing"  # claimed again and run to its end
    JobLease.objects.update(queued_until=None)
    Mailbox.objects.update(status="syncing", last_synced_at=timezone.now())
    assert mailboxes_sync_due() == 0  # synced within SYNC_EVERY
    Mailbox.objects.update(status="ok", last_synced_at=timezone.now() - timedelta(minutes=11))
    assert mailboxes_sync_due() == 1


def test_the_schedule_exists(migrated_schedules):
    from django_q.models import Schedule

    (schedule,) = Schedule.objects.filter(func="integrations.mail.tasks.mailboxes_sync_due_task")
    assert schedule.minutes == 10 and schedule.schedule_type == "I"


def test_personal_settings_show_the_mailbox_and_the_reconnect_sentence(client, org, ada, other_org):
    from django.urls import reverse

    mailbox = mailbox_for(ada, "google", "G-ACCESS")
    Mailbox.objects.filter(pk=mailbox.pk).update(status="reconnect",
                                                 last_error="Reconnect your calendar to import emails.")
    stranger = UserFactory(org=other_org, email="sam@globex.example")
    Mailbox.objects.filter(pk=mailbox_for(stranger, "google", "G-SAM").pk).update(last_error="Not yours")
    client.force_login(ada)
    html = client.get(reverse("settings-personal")).content.decode()
    assert 'id="emails"' in html and "Reconnect your calendar to import emails." in html
    assert "Not yours" not in html


def test_the_consent_asks_for_the_least_mail_scope_and_refresh_does_not():
    from integrations.conferencing.calendars import google, microsoft

    assert "https://www.googleapis.com/auth/gmail.metadata" in google.SCOPES.split()
    assert "gmail.readonly" not in google.SCOPES
    assert "Mail.ReadBasic" in microsoft.SCOPES and "Mail.Read" not in microsoft.SCOPES
    assert "Mail.ReadBasic" not in microsoft.REFRESH_SCOPES  # old connections keep refreshing
