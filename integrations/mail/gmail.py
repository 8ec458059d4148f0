"""Gmail: sent and received emails of the Google account connected for the
calendar, read with the ``gmail.metadata`` scope (headers and labels, never bodies).

Each rule cites the page it follows:

* Full sync, then partial sync from the stored ``historyId``; "If the
  startHistoryId is outside the available range … the API returns HTTP 404 … your
  application should perform a full sync" —
  https://developers.google.com/workspace/gmail/api/guides/sync
* ``users.history.list`` (``startHistoryId``, ``historyTypes=messageAdded``,
  ``pageToken``; the response's ``historyId`` is the mailbox's current one) —
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list
* ``users.messages.list``: ``q`` "cannot be used when accessing the api using the
  gmail.metadata scope", so the full sync pages newest first and stops at the window —
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/list
* ``users.messages.get`` with ``format=metadata`` and ``metadataHeaders`` (the only
  formats the metadata scope allows are ``minimal`` and ``metadata``) —
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/get
* ``users.getProfile`` gives the current ``historyId`` to start from —
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/getProfile
* 403 ``insufficientPermissions`` (scope not granted) vs 403/429 ``rateLimitExceeded``
  / ``userRateLimitExceeded`` (back off) —
  https://developers.google.com/workspace/gmail/api/guides/handle-errors
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from integrations.conferencing.calendars import google
from integrations.conferencing.calendars.base import CalendarError
from integrations.http import http_session, parse_retry_after
from integrations.mail.importer import (
    RECONNECT,
    MailError,
    MessageData,
    RateLimited,
    Reconnect,
    mailbox_cursor_save,
    page_import,
)
from integrations.mail.models import Mailbox

SOURCE = "gmail"
WINDOW = timedelta(days=7)  # what a first (or expired-cursor) sync reads back
PAGE = 100
MAX_FULL_PAGES = 20
HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")
SKIP_LABELS = {"DRAFT", "SPAM", "TRASH", "CHAT"}
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}


def _base() -> str:
    return f"{settings.GOOGLE_API_URL.rstrip('/')}/gmail/v1/users/me"


class _Gmail:
    def __init__(self, token: str):
        self.session = http_session(access_token=token)

    def get(self, path: str, params: Any = None) -> dict | None:
        """The JSON answer; None for a 404 (an expired history id, a deleted message)."""
        try:
            resp = self.session.get(_base() + path, params=params)
        except requests.RequestException as exc:
            raise MailError("Gmail could not be reached. Chorus will try again.") from exc
        if resp.status_code == 200:
            return resp.json()
        if resp.status_code == 404:
            return None
        reasons = set()
        try:
            error = resp.json().get("error") or {}
            reasons = {e.get("reason", "") for e in error.get("errors", [])}
        except ValueError:
            pass
        if resp.status_code == 429 or reasons & RATE_REASONS:
            raise RateLimited(parse_retry_after(resp.headers.get("Retry-After"), default=60))
        if resp.status_code in (401, 403):
            raise Reconnect(RECONNECT)
        raise MailError(f"Gmail answered {resp.status_code}.")

    def message(self, message_id: str) -> MessageData | None:
        params = [("format", "metadata"), *[("metadataHeaders", h) for h in HEADERS]]
        data = self.get(f"/messages/{message_id}", params)
        return _message(data) if data else None


def _message(data: dict) -> MessageData:
    headers: dict[str, str] = {}
    for h in (data.get("payload") or {}).get("headers", []):
        headers.setdefault(str(h.get("name", "")).lower(), str(h.get("value", "")))
    sent_at = None
    if headers.get("date"):
        try:
            sent_at = parsedate_to_datetime(headers["date"])
        except (TypeError, ValueError):
            sent_at = None
    if sent_at is None or sent_at.tzinfo is None:
        sent_at = datetime.fromtimestamp(int(data.get("internalDate", "0")) / 1000, tz=UTC)
    senders = getaddresses([headers.get("from", "")])
    return MessageData(
        message_id=headers.get("message-id", ""),
        provider_id=str(data.get("id", "")),
        subject=headers.get("subject", ""),
        sent_at=sent_at,
        sender=senders[0] if senders else ("", ""),
        recipients=getaddresses([v for v in (headers.get("to", ""), headers.get("cc", "")) if v]),
        draft=bool(SKIP_LABELS & set(data.get("labelIds") or [])),
    )


def gmail_token(mailbox: Mailbox) -> str:
    calendar = mailbox.calendar
    before = dict(calendar.secrets)
    try:
        token = google.access_token(calendar)
    except (CalendarError, requests.RequestException) as exc:
        raise MailError("The calendar no longer accepts Chorus' access: connect it again.") from exc
    if calendar.secrets != before:
        calendar.save(update_fields=["secrets"])
    return token


def gmail_import(*, mailbox: Mailbox) -> int:
    """One round: partial sync from the history id, or a full sync of ``WINDOW``."""
    api = _Gmail(gmail_token(mailbox))
    state = dict(mailbox.state or {})
    if state.get("history_id") and state.get("mode") != "full":
        made = _partial(api, mailbox, state)
        if made is not None:
            return made
        state = {}  # 404: the history id expired → full sync
    return _full(api, mailbox, state)


def _fetch(api: _Gmail, ids: list[str]) -> list[MessageData]:
    out, seen = [], set()
    for message_id in ids:
        if message_id in seen:
            continue
        seen.add(message_id)
        if (m := api.message(message_id)) is not None:  # deleted since: nothing to import
            out.append(m)
    return out


def _partial(api: _Gmail, mailbox: Mailbox, state: dict) -> int | None:
    made = 0
    start, page_token = str(state["history_id"]), state.get("page_token")
    for _ in range(1000):
        params = {"startHistoryId": start, "historyTypes": "messageAdded", "maxResults": PAGE,
                  **({"pageToken": page_token} if page_token else {})}
        data = api.get("/history", params)
        if data is None:
            if page_token:  # a stale page token: the round again from its start
                page_token = None
                continue
            return None
        ids = [added["message"]["id"] for record in data.get("history", [])
               for added in record.get("messagesAdded", []) if (added.get("message") or {}).get("id")]
        page_token = data.get("nextPageToken")
        if page_token:
            new_state = {"history_id": start, "page_token": page_token}
        else:
            new_state = {"history_id": str(data.get("historyId") or start)}
        made += page_import(mailbox=mailbox, messages=_fetch(api, ids), state=new_state, source=SOURCE)
        if not page_token:
            return made
    return made


def _full(api: _Gmail, mailbox: Mailbox, state: dict) -> int:
    """messages.list newest first, back to ``WINDOW`` (kept in ``state`` between
    pages so a killed worker resumes where it stopped); the history id is read
    before listing, so whatever arrives meanwhile comes with the next partial sync."""
    made = 0
    if state.get("mode") != "full":
        profile = api.get("/profile") or {}
        state = {"mode": "full", "history_id": str(profile.get("historyId", "")),
                 "since": (timezone.now() - WINDOW).isoformat()}
    since = datetime.fromisoformat(state["since"])
    for _ in range(MAX_FULL_PAGES):
        params = {"maxResults": PAGE, **({"pageToken": state["page_token"]} if state.get("page_token") else {})}
        data = api.get("/messages", params)
        if data is None:
            raise MailError("Gmail answered 404.")
        messages = _fetch(api, [m["id"] for m in data.get("messages", [])])
        recent = [m for m in messages if m.sent_at >= since]
        page_token = data.get("nextPageToken")
        done = not page_token or len(recent) < len(messages)  # reached the window's start
        new_state = {"history_id": state["history_id"]} if done else {**state, "page_token": page_token}
        made += page_import(mailbox=mailbox, messages=recent, state=new_state, source=SOURCE)
        state = new_state
        if done:
            return made
    mailbox_cursor_save(mailbox=mailbox, state={"history_id": state["history_id"]})
    return made
