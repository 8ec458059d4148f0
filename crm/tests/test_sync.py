"""The sync engine without a network: chunked upserts, domains, the claim, the schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule

from crm import services, tasks
from crm.models import AccountDomain, CrmAccount, CrmContact, CrmSyncCursor
from crm.sync import CHUNK, registrable_domain, sync_objects
from integrations.models import Connection


class FakeSession:
    """A provider session yielding generated records (a generator: nothing held)."""

    def __init__(self, accounts=0, contacts=()):
        self.accounts = accounts
        self.contacts = contacts

    def describe(self, object_name):
        return []

    def count(self, object_name, *, since):
        return {"Account": self.accounts, "Contact": len(self.contacts)}.get(object_name, 0)

    def records(self, object_name, *, since, custom_fields, total=None):
        if object_name == "Account":
            for i in range(self.accounts):
                yield {"remote_id": f"A{i}", "modified_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
                       "name": f"Account {i}", "website": f"https://www.company{i}.co.uk", "zoominfo_id": "",
                       "custom": {}}
        elif object_name == "Contact":
            for i, (email, account) in enumerate(self.contacts):
                yield {"remote_id": f"C{i}", "modified_at": datetime(2026, 1, 2, tzinfo=UTC), "email": email,
                       "name": "", "title": "", "account_remote_id": account, "kind": "contact", "custom": {}}


def make_connection(org, **kw):
    return Connection.objects.create(org=org, provider="salesforce", status="ok",
                                     config={"instance_url": "https://x.example"}, secrets={"access_token": "A"}, **kw)


def test_large_object_is_upserted_in_chunks(org):
    conn = make_connection(org)
    seen = []
    total = 2 * CHUNK + 500
    with CaptureQueriesContext(db_connection) as queries:
        counts = sync_objects(connection=conn, session=FakeSession(accounts=total),
                              progress=lambda obj, done, t: seen.append((obj, done, t)))
    assert counts["Account"] == total and CrmAccount.objects.for_org(org).count() == total
    assert [s for s in seen if s[0] == "Account"] == [("Account", 0, total), ("Account", CHUNK, total),
                                                     ("Account", 2 * CHUNK, total), ("Account", total, total)]
    inserts = [q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "crm_crmaccount"')]
    # Multi-row upserts, never one per row (SQLite's variable limit splits a chunk in ~100-row statements).
    assert 3 <= len(inserts) <= total // 90
    assert AccountDomain.objects.get(account__remote_id="A7").domain == "company7.co.uk"
    cursor = CrmSyncCursor.objects.get(org=org, provider="salesforce", object_name="Account")
    assert cursor.modified_since == datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=total - 1)


def test_second_run_updates_rather_than_duplicates(org):
    conn = make_connection(org)
    sync_objects(connection=conn, session=FakeSession(accounts=3), progress=lambda *a: None)
    sync_objects(connection=conn, session=FakeSession(accounts=3), progress=lambda *a: None)
    assert CrmAccount.objects.for_org(org).count() == 3


def test_contact_domains_weigh_accounts_and_skip_free_mail(org):
    conn = make_connection(org)
    session = FakeSession(accounts=1, contacts=[("a@company0.co.uk", "A0"), ("b@mail.company0.co.uk", "A0"),
                                                ("c@gmail.com", "A0"), ("d@subsidiary.example", "A0")])
    sync_objects(connection=conn, session=session, progress=lambda *a: None)
    assert dict(AccountDomain.objects.values_list("domain", "weight")) == {"company0.co.uk": 2,
                                                                           "subsidiary.example": 1}
    assert CrmContact.objects.filter(account__remote_id="A0").count() == 4


def test_registrable_domains():
    assert registrable_domain("https://www.mail.acme.co.uk/about") == "acme.co.uk"
    assert registrable_domain("Bob@Mail.Acme.co.uk") == "acme.co.uk"
    assert registrable_domain("acme.com.au") == "acme.com.au"
    assert registrable_domain("http://10.1.2.3") == "" and registrable_domain("") == ""


def test_a_running_sync_is_not_started_twice(org):
    conn = make_connection(org)
    Connection.objects.filter(pk=conn.pk).update(status="syncing", updated_at=timezone.now())
    assert services.crm_sync(connection=conn) == {"skipped": "already syncing or disconnected"}


def test_disconnected_connection_is_not_synced(org):
    conn = make_connection(org)
    Connection.objects.filter(pk=conn.pk).update(status="disconnected")
    assert tasks.crm_sync_task(conn.pk) == {"skipped": "already syncing or disconnected"}
    assert tasks.crm_sync_task(999999) == {"skipped": "connection gone"}


def test_periodic_schedule_queues_connected_crms(org, other_org, django_capture_on_commit_callbacks,
                                                 migrated_schedules):
    make_connection(org)
    make_connection(other_org)
    waiting = make_connection(other_org)
    waiting.provider = "hubspot"
    waiting.config = {"needs_reconnect": True}
    waiting.save()
    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.crm_sync_due_task() == 2
    assert len(callbacks) == 2
    schedule = Schedule.objects.get(name="crm: sync connected CRMs")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("crm.tasks.crm_sync_due_task", "I", 30)



def test_sync_rematches_calls_made_before_the_account_existed(org, monkeypatch):
    from crm.models import AccountMatch
    from testutils.factories import EngagementFactory, ParticipantFactory

    engagement = EngagementFactory(org=org)
    ParticipantFactory(engagement=engagement, email="cfo@company0.co.uk", is_internal=False)
    conn = make_connection(org)
    monkeypatch.setattr(services, "crm_session_open", lambda connection: FakeSession(accounts=1))

    result = services.crm_sync(connection=conn)

    assert result["ok"] and result["rematched"] == 1
    match = AccountMatch.objects.get(engagement=engagement)
    assert match.account.remote_id == "A0" and match.rule == "domain"
