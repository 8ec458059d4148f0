"""The ``dialer_api`` family: dialers whose calls come from their own REST API
(Aircall, Zendesk Talk). Aircall's shape is
the default client: ``GET {base}/calls?from=&to=&per_page=`` with the dialer's
credentials, following the next-page link the API returns; Zendesk Talk has its
own (``ZendeskTalkImporter``). The base URL comes
from the catalogue row, overridable per dialer with ``DIALER_API_URLS`` (staging,
tests)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from dialers.importers.base import CallRecord, DialerImportError, MediaError, Stored, http_fetch
from integrations.http import HttpSession, parse_retry_after

PAGE_SIZE = 50
MAX_RETRIES = 4
MAX_WAIT = 60.0


def _sleep(seconds: float) -> None:  # patched in tests
    time.sleep(seconds)


def base_url(dialer, config: dict) -> str:
    url = (settings.DIALER_API_URLS or {}).get(dialer.key) or dialer.api_base_url
    if "{domain}" in url:
        domain = str(config.get("domain", "")).strip().lower()
        if not domain or not domain.replace("-", "").isalnum():
            raise DialerImportError("Enter your Zendesk subdomain (e.g. acme for acme.zendesk.com) under Domain.")
        url = url.replace("{domain}", domain)
    return url.rstrip("/")


def _ts(value: Any) -> datetime:
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value), UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def record_from(call: dict[str, Any]) -> CallRecord:
    user = call.get("user") or {}
    contact = call.get("contact") or {}
    return CallRecord(
        external_id=str(call["id"]), started_at=_ts(call.get("started_at")),
        owner_email=str(call.get("user_email") or user.get("email") or "").lower(),
        duration_seconds=int(call.get("duration") or 0), title=call.get("title") or "",
        prospect_name=call.get("contact_name") or contact.get("name") or "",
        prospect_email=(call.get("contact_email") or contact.get("email") or "").lower(),
        prospect_phone=call.get("raw_digits") or call.get("contact_phone") or contact.get("phone") or "",
        media_source=call.get("recording") or call.get("recording_url") or "",
        direction=call.get("direction") or "",
    )


def next_link(body: dict[str, Any]) -> str:
    meta = body.get("meta") or {}
    return meta.get("next_page_link") or body.get("next_page") or body.get("next") or ""


class DialerApiImporter:
    def __init__(self, *, dialer, config: dict, secrets: dict, http: HttpSession):
        self.dialer, self.http = dialer, http
        self.base = base_url(dialer, config)
        self.auth = None
        self.headers: dict[str, str] = {"Accept": "application/json"}
        names = [f.name for f in dialer.credentials]
        if dialer.api_auth == "basic" and len(names) >= 2:
            self.auth = (str(secrets.get(names[0]) or config.get(names[0], "")),
                         str(secrets.get(names[1]) or config.get(names[1], "")))

    def _get(self, url: str, params: dict | None = None) -> dict[str, Any]:
        for attempt in range(MAX_RETRIES + 1):
            try:
                resp = self.http.get(url, params=params, auth=self.auth, headers=self.headers)
            except requests.RequestException as exc:
                raise DialerImportError(f"Chorus could not reach {self.dialer.label} ({type(exc).__name__}); "
                                        "the import is retried at the next hourly run.") from exc
            if resp.status_code in (429, 503):
                wait = parse_retry_after(resp.headers.get("Retry-After"), default=min(2.0 ** attempt, 30.0))
                if attempt == MAX_RETRIES or wait > MAX_WAIT:
                    break
                _sleep(wait)
                continue
            if resp.status_code in (401, 403):
                raise DialerImportError(f"{self.dialer.label} refused the credentials (HTTP {resp.status_code}). "
                                        "Click Edit and enter them again.")
            if resp.status_code >= 400:
                raise DialerImportError(f"{self.dialer.label} answered HTTP {resp.status_code} to the call list.")
            try:
                return resp.json()
            except ValueError as exc:
                raise DialerImportError(f"{self.dialer.label} did not answer with JSON.") from exc
        raise DialerImportError(f"{self.dialer.label} kept asking Chorus to slow down; the import continues "
                                "at the next hourly run.")

    def pages(self, *, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        params: dict | None = {"from": int(since.timestamp()), "to": int(until.timestamp()), "per_page": PAGE_SIZE,
                               "order": "asc"}
        url = f"{self.base}/calls"
        seen_links = set()
        while url:
            body = self._get(url, params)
            calls = body.get("calls") or body.get("data") or []
            records = [record_from(c) for c in calls]
            # The window is [since, until): an API that rounds its filter still never widens it.
            yield [r for r in records if since <= r.started_at < until]
            url, params = next_link(body), None
            if url in seen_links:
                raise DialerImportError(f"{self.dialer.label} returned the same page twice; the import stopped.")
            seen_links.add(url)

    def fetch_media(self, record_source: str, dest: IO[bytes], *, max_bytes: int) -> Stored:
        if not record_source:
            raise MediaError("The call has no recording.", permanent=True)
        # Credentials go only to the dialer's own host, never to a storage link it hands out.
        same_host = urlsplit(record_source).hostname == urlsplit(self.base).hostname
        return http_fetch(self.http, record_source, dest, max_bytes=max_bytes, auth=self.auth if same_host else None,
                          headers={k: v for k, v in self.headers.items() if k == "Authorization" and same_host})


class ZendeskTalkImporter(DialerApiImporter):
    """Zendesk Talk has no call list by date: calls come from the Talk incremental
    export (``GET {base}/channels/voice/stats/incremental/calls?start_time=``; 10
    requests a minute, pages carry ``count``, ``end_time`` and a ``next_page`` that is
    never empty), agents' and customers' addresses from ``users/show_many`` (100 a
    request), and each recording from the voice comment on the call's ticket."""

    EXPORT_PAGE_MAX = 1000  # a page with fewer calls is the last one for now
    USERS_PER_REQUEST = 100

    def pages(self, *, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        url, params = f"{self.base}/channels/voice/stats/incremental/calls", {"start_time": int(since.timestamp())}
        seen_links: set[str] = set()
        while url:
            body = self._get(url, params)
            calls = list({c["id"]: c for c in body.get("calls") or []
                          if since <= _ts(c.get("created_at")) < until}.values())  # an updated call comes again
            if calls:
                yield self._records(calls)
            count, end_time = int(body.get("count") or 0), int(body.get("end_time") or 0)
            if count < self.EXPORT_PAGE_MAX or end_time >= until.timestamp():
                return
            url, params = body.get("next_page") or "", None
            if url in seen_links:
                raise DialerImportError(f"{self.dialer.label} returned the same page twice; the import stopped.")
            seen_links.add(url)

    def _users(self, ids: set[int]) -> dict[int, dict]:
        found: dict[int, dict] = {}
        wanted = sorted(i for i in ids if i)
        for start in range(0, len(wanted), self.USERS_PER_REQUEST):
            chunk = wanted[start:start + self.USERS_PER_REQUEST]
            body = self._get(f"{self.base}/users/show_many", {"ids": ",".join(map(str, chunk))})
            found |= {u["id"]: u for u in body.get("users") or []}
        return found

    def _recording(self, call: dict) -> str:
        """The recording link of the call's voice comment on its ticket."""
        if not call.get("ticket_id"):
            return ""
        body = self._get(f"{self.base}/tickets/{call['ticket_id']}/comments")
        voice = [c.get("data") or {} for c in body.get("comments") or [] if c.get("type") == "VoiceComment"]
        mine = [d for d in voice if str(d.get("call_id", "")) == str(call["id"])] or voice
        return str(mine[0].get("recording_url") or "") if mine else ""

    def _records(self, calls: list[dict]) -> list[CallRecord]:
        users = self._users({c.get("agent_id") for c in calls} | {c.get("customer_id") for c in calls})
        out = []
        for c in calls:
            agent, customer = users.get(c.get("agent_id")) or {}, users.get(c.get("customer_id")) or {}
            out.append(CallRecord(
                external_id=str(c["id"]), started_at=_ts(c["created_at"]),
                owner_email=str(agent.get("email") or "").lower(), duration_seconds=int(c.get("duration") or 0),
                prospect_name=customer.get("name") or "", prospect_email=str(customer.get("email") or "").lower(),
                prospect_phone=customer.get("phone") or "", direction=c.get("direction") or "",
                media_source=self._recording(c) if c.get("agent_id") else ""))
        return out


IMPORTERS = {"zendesk": ZendeskTalkImporter}  # the catalogue's ``api_style`` → its client; the rest are Aircall-shaped
