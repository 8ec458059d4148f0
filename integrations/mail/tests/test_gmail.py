"""Gmail over the wire (a local fake speaking Gmail's format): full sync, history
ids, paging, duplicates, reordering, an expired history id, a killed worker."""

import logging

import pytest

from chorus.models import Engagement, Participant
from integrations.mail import importer
from integrations.mail.models import Mailbox
from integrations.mail.sync import mailbox_sync
from integrations.mail.tests.conftest import ago, mailbox_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_org(org):
    org.ignored_participants = ["assistant@partner.example"]
    org.blocked_participants = ["blocked.example"]
    org.save()
    return org


def sync(mailbox):
    mailbox = mailbox_sync(mailbox=mailbox)
    assert mailbox.status == "ok", mailbox.last_error
    return mailbox


def emails(org):
    return {e.title: e for e in Engagement.objects.for_org(org).filter(kind="email")}


def test_full_then_partial_sync_imports_customer_emails_only(customer_org, ada, bob, gmail, httpserver, caplog):
    caplog.set_level(logging.DEBUG)
    g = gmail()
    g.add(subject="Pricing for Wonka", sender="Ada Lovelace <ada@acme.example>", to=["Willy <willy@wonka.example>"],
          sent=ago(hours=3), labels=("SENT",))
    g.add(subject="Re: Pricing for Wonka", sender="Willy Wonka <willy@wonka.example>",
          to=["ada@acme.example"], cc=["assistant@partner.example", "bob@acme.example"], sent=ago(hours=2))
    g.add(subject="Lunch?", sender="bob@acme.example", to=["ada@acme.example"], sent=ago(hours=1))  # internal
    g.add(subject="Via the assistant", sender="assistant@partner.example", to=["ada@acme.example"],
          sent=ago(hours=1))  # only an ignored outsider
    g.add(subject="Blocked deal", sender="x@blocked.example", to=["ada@acme.example"], sent=ago(hours=1))
    g.add(subject="Draft to Willy", sender="ada@acme.example", to=["willy@wonka.example"], sent=ago(minutes=5),
          labels=("DRAFT",))
    g.add(subject="Ancient", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(days=30))
    mailbox = mailbox_for(ada, "google", "G-ACCESS")
    from integrations.mail import gmail as gm
    gm.PAGE = 3  # three pages newest first
    try:
        sync(mailbox)
    finally:
        gm.PAGE = 100

    got = emails(customer_org)
    assert set(got) == {"Pricing for Wonka", "Re: Pricing for Wonka"}
    sent, received = got["Pricing for Wonka"], got["Re: Pricing for Wonka"]
    assert sent.source == "gmail" and sent.owner == ada and received.owner == ada
    assert sent.external_id.startswith("<18c") and sent.external_id.endswith("@mail.example>")
    people = {p.email: p for p in received.participants.all()}
    assert people["assistant@partner.example"].is_ignored and not people["willy@wonka.example"].is_internal
    assert people["bob@acme.example"].is_internal and people["bob@acme.example"].name == "Bob Builder"
    mailbox.refresh_from_db()
    assert mailbox.state == {"history_id": "1007"} and mailbox.imported == 2
    # Every get asked for headers only; no body or subject ever reached the log.
    gets = [r for r, _ in httpserver.log if "/messages/18c" in r.path]
    assert gets and all(r.args["format"] == "metadata" for r in gets)
    assert {tuple(r.args.getlist("metadataHeaders")) for r in gets} == {
        ("From", "To", "Cc", "Subject", "Date", "Message-ID")}
    assert "SECRET BODY" not in caplog.text and "Pricing" not in caplog.text and "Wonka" not in caplog.text

    # Partial: only what came after the history id; a label change imports nothing.
    httpserver.clear_log()
    g.label(list(g.messages)[0], "IMPORTANT")
    g.add(subject="Contract", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(minutes=1))
    sync(mailbox)
    assert set(emails(customer_org)) == {"Pricing for Wonka", "Re: Pricing for Wonka", "Contract"}
    (history,) = [r for r, _ in httpserver.log if r.path.endswith("/history")]
    assert history.args["startHistoryId"] == "1007" and history.args["historyTypes"] == "messageAdded"
    assert not [r for r, _ in httpserver.log if r.path.endswith("/messages")]  # no full listing

    # Nothing new: a third run makes nothing and asks for no message.
    httpserver.clear_log()
    sync(mailbox)
    assert Engagement.objects.filter(kind="email").count() == 3
    assert not [r for r, _ in httpserver.log if "/messages/" in r.path]


def test_history_pages_duplicates_and_reordering(org, ada, gmail):
    g = gmail()
    mailbox = mailbox_for(ada, "google", "G-ACCESS")
    sync(mailbox)  # empty mailbox: the history id is set
    newest = g.add(subject="Newest", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(minutes=1))
    g.add(subject="Older, delivered late", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(days=2))
    # The same message announced twice (re-added after a move), and a sent-to-self copy of one Message-ID.
    g.history.append({**g.history[-2], "id": str(g.history_id + 1)})
    g.history_id += 1
    g.add(subject="Newest", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(minutes=1),
          message_id=next(h["value"] for h in g.messages[newest]["payload"]["headers"] if h["name"] == "Message-ID"))
    from integrations.mail import gmail as gm
    gm.PAGE = 1
    try:
        sync(mailbox)
    finally:
        gm.PAGE = 100
    got = Engagement.objects.filter(kind="email").order_by("started_at")
    assert [e.title for e in got] == ["Older, delivered late", "Newest"]


def test_expired_history_id_falls_back_to_a_full_sync_of_the_window(org, ada, gmail, httpserver):
    g = gmail()
    g.add(subject="Before", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(days=1))
    mailbox = mailbox_for(ada, "google", "G-ACCESS")
    mailbox.state = {"history_id": "5"}
    mailbox.save()
    g.oldest_history = 900  # Gmail no longer has history 5: 404
    sync(mailbox)
    assert [e.title for e in Engagement.objects.filter(kind="email")] == ["Before"]
    assert [r for r, _ in httpserver.log if r.path.endswith("/profile")]
    mailbox.refresh_from_db()
    assert mailbox.state == {"history_id": str(g.history_id)}


def test_a_worker_killed_mid_import_makes_no_second_copy(org, ada, gmail, monkeypatch):
    g = gmail()
    for i in range(4):
        g.add(subject=f"Email {i}", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(hours=i + 1))
    mailbox = mailbox_for(ada, "google", "G-ACCESS")
    from integrations.mail import gmail as gm
    monkeypatch.setattr(gm, "PAGE", 2)
    real, calls = importer.mailbox_cursor_save, []

    def killed(**kw):  # page 2: its engagements are written, the worker dies before the cursor
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real(**kw)

    monkeypatch.setattr(importer, "mailbox_cursor_save", killed)
    with pytest.raises(SystemExit):
        mailbox_sync(mailbox=mailbox)
    # Page 1 committed with its cursor; page 2 rolled back whole.
    assert Engagement.objects.filter(kind="email").count() == 2
    stuck = Mailbox.objects.get()
    assert stuck.status == "syncing" and stuck.state["mode"] == "full" and stuck.state["page_token"]

    monkeypatch.setattr(importer, "mailbox_cursor_save", real)
    Mailbox.objects.update(status="queued")  # what the next run, under the lease, does first
    sync(Mailbox.objects.get())
    assert sorted(Engagement.objects.filter(kind="email").values_list("title", flat=True)) == [
        "Email 0", "Email 1", "Email 2", "Email 3"]
    assert Participant.objects.filter(email="willy@wonka.example").count() == 4
