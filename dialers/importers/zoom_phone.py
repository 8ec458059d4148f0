"""The ``zoom_phone`` family: automatically recorded Zoom Phone calls from Zoom's
phone recordings API (``GET /phone/recordings``, day-granular ``from``/``to``,
``next_page_token`` paging), through the org's installed Zoom app (Settings >
Integrations > Zoom Phone Integration > Activate)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO
from urllib.parse import urlencode

from dialers.importers.base import CallRecord, DialerImportError, MediaError, Stored, http_fetch
from integrations.http import HttpSession
from integrations.registry import IntegrationError

PAGE_SIZE = 300  # Zoom's maximum for phone recordings


def _dt(value: str | None) -> datetime:
    return datetime.fromisoformat((value or "").replace("Z", "+00:00")) if value else datetime.now(UTC)


class ZoomPhoneImporter:
    concurrent_media = False  # the Zoom client may refresh and save its token mid-download

    def __init__(self, *, client, http: HttpSession):
        self.client, self.http = client, http

    def _get(self, path: str) -> dict:
        try:
            return self.client.get(path)
        except IntegrationError as exc:  # Zoom's sentence
            raise DialerImportError(f"{exc} (Zoom Phone needs a Business or Enterprise Zoom account.)") from exc

    def _user_emails(self) -> dict[str, str]:
        emails, token = {}, ""
        while True:
            body = self._get("/phone/users?" + urlencode({"page_size": 100, "next_page_token": token}))
            emails.update({u["id"]: (u.get("email") or "").lower() for u in body.get("users") or []})
            token = body.get("next_page_token") or ""
            if not token:
                return emails

    def pages(self, *, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        emails = None
        token = ""
        while True:
            query = {"page_size": PAGE_SIZE, "from": since.astimezone(UTC).date().isoformat(),
                     "to": until.astimezone(UTC).date().isoformat(), "next_page_token": token}
            body = self._get("/phone/recordings?" + urlencode(query))
            if emails is None:
                emails = self._user_emails()
            records = []
            for rec in body.get("recordings") or []:
                # Only calls recorded automatically (the seed's Policy > Automatic Call Recording).
                if (rec.get("recording_type") or "Automatic").lower() not in ("automatic", "1"):
                    continue
                started = _dt(rec.get("date_time"))
                if not (since <= started < until):
                    continue
                owner = rec.get("owner") or {}
                outbound = rec.get("direction") == "outbound"
                records.append(CallRecord(
                    external_id=str(rec.get("call_id") or rec["id"]), started_at=started,
                    owner_email=emails.get(owner.get("id", ""), ""), duration_seconds=int(rec.get("duration") or 0),
                    title=f"Zoom Phone call with {rec.get('callee_name' if outbound else 'caller_name') or ''}".strip(),
                    prospect_name=rec.get("callee_name" if outbound else "caller_name") or "",
                    prospect_phone=rec.get("callee_number" if outbound else "caller_number") or "",
                    media_source=rec.get("download_url") or "", direction=rec.get("direction") or ""))
            yield records
            token = body.get("next_page_token") or ""
            if not token:
                return

    def fetch_media(self, record_source: str, dest: IO[bytes], *, max_bytes: int) -> Stored:
        if not record_source:
            raise MediaError("Zoom lists no recording file for this call.", permanent=True)
        token = self.client._access_token()  # the Zoom app's token; refreshed by the client when due
        return http_fetch(self.http, record_source, dest, max_bytes=max_bytes,
                          headers={"Authorization": f"Bearer {token}"})
