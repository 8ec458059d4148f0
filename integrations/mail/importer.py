"""What every mailbox shares: the provider-neutral message, the rules that decide
which emails become Email engagements, and the one transaction per page.

Rules (the issue: "sent and received emails that have an external participant and
are not blocked, same Ignored participants / Block list rules"):

* one email is one engagement per org, whoever's mailbox it was read from: its key
  is the RFC 5322 ``Message-ID`` (the same header in the sender's Sent folder and in
  every colleague's inbox), looked up across both sources (``gmail``,
  ``microsoft365``) before inserting, and held by the unique
  ``(org, source, external_id)`` when two workers race;
* drafts are not emails sent or received;
* a participant on the Block list keeps the whole email out (as a block-listed
  attendee keeps a meeting unrecorded);
* Ignored participants are kept, flagged ``is_ignored`` (the task body leaves them
  out); an email whose only outsiders are ignored, or with no outsider at all, is not
  a customer interaction and is not imported;
* the owner is the Chorus user who sent it, else the user whose mailbox received it.

Subjects become engagement titles (they are what the CRM task is called); bodies are
never fetched (Gmail ``format=metadata``, Graph ``$select`` without ``body``), so
nothing of them is stored or logged. Logs carry counts and ids only.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from chorus.models import Engagement, Organization, Participant, User
from integrations.mail.models import Mailbox
from integrations.processing.services import processing_queue

log = logging.getLogger(__name__)

SOURCES = ("gmail", "microsoft365")


class MailError(Exception):
    """A sentence for the user: the mailbox could not be read."""


class Reconnect(MailError):
    """The connection lacks the mail scope (connected before emails were imported)."""


RECONNECT = "Reconnect your calendar to import emails."


class RateLimited(Exception):  # noqa: N818 (a wait, not a failure)
    def __init__(self, seconds: float):
        super().__init__(f"rate limited for {seconds:.0f}s")
        self.seconds = seconds


@dataclass
class MessageData:
    message_id: str  # RFC 5322 Message-ID, or "" when the message has none
    provider_id: str  # the mailbox's own id of the message
    subject: str
    sent_at: datetime
    sender: tuple[str, str]  # (name, address)
    recipients: list[tuple[str, str]] = field(default_factory=list)  # To and Cc
    draft: bool = False


def external_id_for(message: MessageData, *, source: str, account: str) -> str:
    """The engagement key: the Message-ID (hashed when longer than the column), or
    for a message without one the mailbox's own id (then one per mailbox)."""
    mid = " ".join((message.message_id or "").split())
    if not mid:
        raw = f"{source}:{account}:{message.provider_id}"
        return "noid-" + hashlib.sha256(raw.encode()).hexdigest()[:40]
    return mid if len(mid) <= 255 else "sha256-" + hashlib.sha256(mid.encode()).hexdigest()


def _people(message: MessageData) -> list[tuple[str, str]]:
    seen, out = set(), []
    for name, address in [message.sender, *message.recipients]:
        email = (address or "").strip().lower()
        if not email or "@" not in email or email in seen:
            continue
        seen.add(email)
        out.append((email, (name or "").strip()))
    return out


def _candidate(org: Organization, mailbox_user: User, message: MessageData, users: dict[str, User],
               *, source: str, account: str) -> tuple[Engagement, list[Participant]] | None:
    if message.draft:
        return None
    people = _people(message)
    flags = {}
    for email, _ in people:
        f = org.participant_flags(email)
        f["is_internal"] = f["is_internal"] or email in users
        flags[email] = f
    if any(f["is_blocklisted"] for f in flags.values()):
        return None
    if not any(not f["is_internal"] and not f["is_ignored"] for f in flags.values()):
        return None
    sender = (message.sender[1] or "").strip().lower()
    owner = users.get(sender) or mailbox_user
    engagement = Engagement(
        org=org, kind=Engagement.Kind.EMAIL, source=source,
        external_id=external_id_for(message, source=source, account=account),
        title=" ".join((message.subject or "").split())[:500], started_at=message.sent_at, owner=owner)
    participants = [
        Participant(org=org, email=email[:254],
                    name=((users[email].full_name if email in users else name) or "")[:200], **flags[email])
        for email, name in people]
    return engagement, participants


def page_import(*, mailbox: Mailbox, messages: list[MessageData], state: dict, source: str) -> int:
    """Write one page: new engagements, their participants, the mailbox cursor, and
    the announcement (``processing_queue`` announces emails at once through
    ``engagements_ready``: account matching, CRM Objects Creation) — all in one
    transaction. Returns how many engagements were made. A colleague's worker that
    inserted the same email a moment earlier makes the insert fail; the page is then
    read again from the database, where that email now is."""
    for attempt in range(3):
        try:
            return _page_write(mailbox, messages, state, source)
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("Mailbox %s: another worker imported some of this page; retrying it", mailbox.pk)
    return 0


def _page_write(mailbox: Mailbox, messages: list[MessageData], state: dict, source: str) -> int:
    org = mailbox.org
    calendar = mailbox.calendar
    account = (calendar.account_email or calendar.user.email).lower()
    with transaction.atomic():
        addresses = {p[0] for m in messages for p in _people(m)}
        users = {u.email.lower(): u for u in User.objects.for_org(org).annotate(lower_email=Lower("email"))
                 .filter(lower_email__in=addresses)} if addresses else {}
        made: dict[str, tuple[Engagement, list[Participant]]] = {}
        for message in messages:
            candidate = _candidate(org, calendar.user, message, users, source=source, account=account)
            if candidate and candidate[0].external_id not in made:
                made[candidate[0].external_id] = candidate
        existing = set(Engagement.objects.for_org(org).filter(
            kind=Engagement.Kind.EMAIL, source__in=SOURCES, external_id__in=list(made)).values_list(
            "external_id", flat=True)) if made else set()
        new = [made[k] for k in made if k not in existing]
        engagements = Engagement.objects.bulk_create([e for e, _ in new])
        for engagement, people in new:
            for p in people:
                p.engagement = engagement
        Participant.objects.bulk_create([p for _, people in new for p in people])
        mailbox_cursor_save(mailbox=mailbox, state=state, imported=len(engagements))
        processing_queue(org=org, engagements=engagements)
    log.info("Mailbox %s: %s messages read, %s emails imported", mailbox.pk, len(messages), len(engagements))
    return len(engagements)


def mailbox_cursor_save(*, mailbox: Mailbox, state: dict, imported: int = 0) -> None:
    """The cursor after a page (inside the page's transaction)."""
    from django.db.models import F

    mailbox.state = state
    Mailbox.objects.filter(pk=mailbox.pk).update(state=state, imported=F("imported") + imported)
