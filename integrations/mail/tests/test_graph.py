"""Microsoft 365 over the wire (a local fake speaking Graph's message delta):
nextLink paging, delta links per folder, reordering, 410 resync, a killed worker."""

import logging

import pytest

from chorus.models import Engagement
from integrations.mail import importer
from integrations.mail.models import Mailbox
from integrations.mail.sync import mailbox_sync
from integrations.mail.tests.conftest import ago, mailbox_for

pytestmark = pytest.mark.django_db


def sync(mailbox):
    mailbox = mailbox_sync(mailbox=mailbox)
    assert mailbox.status == "ok", mailbox.last_error
    return mailbox


def titles(org):
    return sorted(Engagement.objects.for_org(org).filter(kind="email").values_list("title", flat=True))


def delta_requests(fake, folder=None):
    return [r for r in fake.requests if r["path"].endswith("/messages/delta")
            and (folder is None or f"/mailFolders/{folder}/" in r["path"])]


def test_delta_rounds_page_and_keep_a_delta_link_per_folder(org, ada, graph, caplog):
    caplog.set_level(logging.DEBUG, logger="integrations")
    g = graph()
    org.blocked_participants = ["blocked.example"]
    org.save()
    for i in range(60):  # more than one page of 50
        g.add("inbox", subject=f"Question {i}", sender="Willy Wonka willy@wonka.example", to=["ada@acme.example"],
              sent=ago(hours=1, minutes=i))
    g.add("sentitems", subject="Proposal", sender="Ada ada@acme.example", to=["willy@wonka.example"],
          sent=ago(minutes=30))
    g.add("sentitems", subject="Internal", sender="ada@acme.example", to=["bob@acme.example"], sent=ago(minutes=20))
    g.add("inbox", subject="Blocked", sender="x@blocked.example", to=["ada@acme.example"], sent=ago(minutes=10))
    g.add("sentitems", subject="Draft", sender="ada@acme.example", to=["willy@wonka.example"], sent=ago(minutes=1),
          draft=True)
    mailbox = mailbox_for(ada, "microsoft", "M-ACCESS")
    sync(mailbox)
    assert len(titles(org)) == 61 and "Proposal" in titles(org)
    sent = Engagement.objects.get(title="Proposal")
    assert sent.source == "microsoft365" and sent.owner == ada and sent.external_id == "<AAMk0061@acme.onmicrosoft.com>"
    first = delta_requests(g, "sentitems")[0]
    assert set(first["args"]["$select"].split(",")) == {
        "subject", "from", "toRecipients", "ccRecipients",
        "sentDateTime", "internetMessageId", "isDraft"}
    assert first["args"]["$filter"].startswith("receivedDateTime ge ") and "odata.maxpagesize=50" in first["prefer"]
    inbox = delta_requests(g, "inbox")
    assert len(inbox) == 2 and set(inbox[1]["args"]) == {"$skiptoken"}
    mailbox.refresh_from_db()
    assert set(mailbox.state) == {"sentitems", "inbox"} and all("delta" in v for v in mailbox.state.values())
    assert "SECRET BODY" not in caplog.text and "Question" not in caplog.text and "Proposal" not in caplog.text

    # Next round: only the changes; an older message delivered late still comes in.
    g.requests.clear()
    g.add("inbox", subject="Late but older", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(days=2))
    sync(mailbox)
    assert "Late but older" in titles(org) and len(titles(org)) == 62
    assert all(set(r["args"]) == {"$deltatoken"} for r in delta_requests(g))

    # And nothing new: nothing made.
    sync(mailbox)
    assert len(titles(org)) == 62


def test_an_expired_delta_link_restarts_the_folder(org, ada, graph):
    g = graph()
    g.add("inbox", subject="One", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(hours=1))
    mailbox = mailbox_for(ada, "microsoft", "M-ACCESS")
    sync(mailbox)
    g.generation += 1  # every token expired: 410 SyncStateNotFound
    g.add("inbox", subject="Two", sender="willy@wonka.example", to=["ada@acme.example"], sent=ago(minutes=1))
    g.requests.clear()
    sync(mailbox)
    assert titles(org) == ["One", "Two"]  # the restart re-read "One": still one engagement
    restarts = [r for r in delta_requests(g) if "$select" in r["args"]]
    assert len(restarts) == 2  # both folders began again


def test_a_worker_killed_between_pages_resumes_from_the_next_link(org, ada, graph, monkeypatch):
    g = graph()
    for i in range(5):
        g.add("inbox", subject=f"Mail {i}", sender="willy@wonka.example", to=["ada@acme.example"],
              sent=ago(hours=i + 1))
    from integrations.mail import graph as gr
    monkeypatch.setattr(gr, "PREFER", "odata.maxpagesize=2")
    real, calls = importer.mailbox_cursor_save, []

    def killed(**kw):
        calls.append(1)
        if len(calls) == 3:  # sentitems (empty), inbox page 1, then inbox page 2 dies before its cursor
            raise SystemExit("worker killed")
        return real(**kw)

    monkeypatch.setattr(importer, "mailbox_cursor_save", killed)
    mailbox = mailbox_for(ada, "microsoft", "M-ACCESS")
    with pytest.raises(SystemExit):
        mailbox_sync(mailbox=mailbox)
    assert titles(org) == ["Mail 0", "Mail 1"]
    assert "next" in Mailbox.objects.get().state["inbox"]
    monkeypatch.setattr(importer, "mailbox_cursor_save", real)
    Mailbox.objects.update(status="queued")
    sync(Mailbox.objects.get())
    assert titles(org) == [f"Mail {i}" for i in range(5)]
