"""Microsoft 365: sent and received emails of the account connected for the
calendar, read with ``Mail.ReadBasic`` (every property but the body).

Each rule cites the page it follows:

* ``GET /me/mailFolders/{id}/messages/delta``, one folder at a time (``sentitems``,
  ``inbox``); ``$select`` and ``$filter=receivedDateTime ge …`` only on the first
  request, then the ``@odata.nextLink`` as given, until an ``@odata.deltaLink``
  ends the round; ``Prefer: odata.maxpagesize`` —
  https://learn.microsoft.com/en-us/graph/api/message-delta and
  https://learn.microsoft.com/en-us/graph/delta-query-messages
* Least privileged permission for message delta: ``Mail.ReadBasic`` —
  https://learn.microsoft.com/en-us/graph/api/message-delta (Permissions)
* An expired delta or skip token answers 410 Gone (``SyncStateNotFound`` /
  ``resyncRequired``): start the folder again —
  https://learn.microsoft.com/en-us/graph/delta-query-overview
* 429 with ``Retry-After`` —
  https://learn.microsoft.com/en-us/graph/throttling
* ``internetMessageId`` is the RFC 5322 Message-ID —
  https://learn.microsoft.com/en-us/graph/api/resources/message
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.conferencing.calendars import microsoft
from integrations.conferencing.calendars.base import CalendarError
from integrations.http import http_session, parse_retry_after
from integrations.mail.importer import RECONNECT, MailError, MessageData, RateLimited, Reconnect, page_import
from integrations.mail.models import Mailbox

SOURCE = "microsoft365"
WINDOW = timedelta(days=7)
FOLDERS = ("sentitems", "inbox")
SELECT = "subject,from,toRecipients,ccRecipients,sentDateTime,internetMessageId,isDraft"
PREFER = "odata.maxpagesize=50"
MAX_PAGES = 200


def _address(recipient: dict | None) -> tuple[str, str]:
    e = (recipient or {}).get("emailAddress") or {}
    return str(e.get("name") or ""), str(e.get("address") or "")


def _message(item: dict) -> MessageData:
    sent = parse_datetime(str(item.get("sentDateTime") or "")) or timezone.now()
    return MessageData(
        message_id=str(item.get("internetMessageId") or ""),
        provider_id=str(item.get("id", "")),
        subject=str(item.get("subject") or ""),
        sent_at=sent,
        sender=_address(item.get("from")),
        recipients=[_address(r) for r in [*(item.get("toRecipients") or []), *(item.get("ccRecipients") or [])]],
        draft=bool(item.get("isDraft")),
    )


def first_link(folder: str) -> str:
    since = (timezone.now() - WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{settings.MICROSOFT_GRAPH_URL.rstrip('/')}/me/mailFolders/{folder}/messages/delta?" + urlencode(
        {"$select": SELECT, "$filter": f"receivedDateTime ge {since}"})


def graph_token(mailbox: Mailbox) -> str:
    calendar = mailbox.calendar
    before = dict(calendar.secrets)
    try:
        token = microsoft.access_token(calendar)
    except (CalendarError, requests.RequestException) as exc:
        raise MailError("The calendar no longer accepts Chorus' access: connect it again.") from exc
    if calendar.secrets != before:
        calendar.save(update_fields=["secrets"])
    return token


def graph_import(*, mailbox: Mailbox) -> int:
    """One round over each folder, a transaction per page."""
    session = http_session(access_token=graph_token(mailbox))
    made = 0
    for folder in FOLDERS:
        restarted = False
        for _ in range(MAX_PAGES):
            state = dict(mailbox.state or {})
            link = (state.get(folder) or {}).get("next") or (state.get(folder) or {}).get("delta") \
                or first_link(folder)
            try:
                resp = session.get(link, headers={"Prefer": PREFER})
            except requests.RequestException as exc:
                raise MailError("Microsoft 365 could not be reached. Chorus will try again.") from exc
            if resp.status_code == 410:
                if restarted:
                    raise MailError("Microsoft 365 kept resetting the email sync.")
                restarted = True
                state.pop(folder, None)
                mailbox.state = state
                continue
            if resp.status_code == 429 or resp.status_code == 503 and resp.headers.get("Retry-After"):
                raise RateLimited(parse_retry_after(resp.headers.get("Retry-After"), default=60))
            if resp.status_code in (401, 403):
                raise Reconnect(RECONNECT)
            if resp.status_code != 200:
                raise MailError(f"Microsoft 365 answered {resp.status_code}.")
            data = resp.json()
            messages = [_message(i) for i in data.get("value", []) if "@removed" not in i]
            nxt, delta = data.get("@odata.nextLink"), data.get("@odata.deltaLink")
            state[folder] = {"next": nxt} if nxt else {"delta": delta}
            if not nxt and not delta:
                raise MailError("Microsoft 365 ended the email sync without a delta link.")
            made += page_import(mailbox=mailbox, messages=messages, state=state, source=SOURCE)
            if not nxt:
                break
    return made
