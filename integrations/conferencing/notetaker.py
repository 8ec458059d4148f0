"""Client of the recording-bot backend (the open-source Attendee bot API shape:
``POST/PATCH/DELETE /api/v1/bots``, ``Authorization: Token <key>``).
``NOTETAKER_API_URL`` / ``NOTETAKER_API_KEY`` point it at the backend.

The backend's wire format, in one place
---------------------------------------

Chorus → backend (``Authorization: Token <NOTETAKER_API_KEY>``, JSON):

* ``POST /api/v1/bots`` ``{"meeting_url", "bot_name", "join_at", "metadata": {"org", "calendar_event"}}``
  → ``{"id": <bot id>, ...}``; ``PATCH /api/v1/bots/<id>`` ``{"join_at"}``;
  ``DELETE /api/v1/bots/<id>`` (404: already gone).
* ``GET /api/v1/bots/<id>`` → ``{"id", "metadata": {...}, "recording_url", "duration_seconds",
  "started_at" (ISO 8601), "participants": [{"name", "email"}], "transcript_url"}``.
* ``GET <recording_url>`` → the audio/video file (streamed); ``GET <transcript_url>`` → WebVTT,
  one cue per utterance with the speaker as ``<v Name>``. Both only from the backend's own
  host (``download_host_allowed``), with the API key.

Backend → Chorus: ``POST /integrations/notetaker/webhook``, JSON::

    {"id": "<event id, unique>", "event": "bot.joined" | "bot.recording_done" | "bot.failed"
       | "bot.kicked" | "bot.waiting_room_timeout",
     "bot_id": "<bot id>", "created_at": "<ISO 8601>",
     "data": {"metadata": {<what Chorus passed when scheduling>}, "reason": "<why, for failures>"}}

with ``X-Notetaker-Timestamp: <unix seconds>`` and
``X-Notetaker-Signature: v1=<hex HMAC-SHA256(NOTETAKER_WEBHOOK_SECRET, "<timestamp>.<raw body>")>``
(several space-separated ``v1=`` values are accepted while the secret rotates). Timestamps
more than 5 minutes off are refused. A delivery is retried by the backend with the same
event id and a fresh timestamp/signature.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings

from integrations.http import http_session

SIGNATURE_TOLERANCE = 300  # seconds
DOWNLOAD_CHUNK = 1024 * 1024
RECORDING_CONTENT_TYPES = ("audio/", "video/", "application/octet-stream", "binary/octet-stream")
TRANSCRIPT_CONTENT_TYPES = ("text/vtt", "text/plain")


class NotetakerError(Exception):
    """The bot backend refused or could not be reached; a sentence for the page.
    ``transient``: worth trying again later (unreachable, 429, 5xx)."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class SignatureError(Exception):
    """A webhook delivery that is not the backend's (the reason, for the answer and the log)."""


def _secret(secret: str | None) -> bytes:
    value = secret if secret is not None else settings.NOTETAKER_WEBHOOK_SECRET
    if not value:
        raise SignatureError("NOTETAKER_WEBHOOK_SECRET is not configured.")
    return value.encode()


def sign(*, timestamp: str, body: bytes, secret: str | None = None) -> str:
    """The ``X-Notetaker-Signature`` value of a delivery."""
    mac = hmac.new(_secret(secret), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify_signature(*, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> None:
    """Raise :class:`SignatureError` unless the delivery is signed with the secret and fresh."""
    if not timestamp or not signature:
        raise SignatureError("Missing X-Notetaker-Timestamp or X-Notetaker-Signature.")
    try:
        ts = int(timestamp)
    except ValueError as exc:
        raise SignatureError("Malformed X-Notetaker-Timestamp.") from exc
    if abs((now if now is not None else time.time()) - ts) > SIGNATURE_TOLERANCE:
        raise SignatureError("Stale X-Notetaker-Timestamp (more than 5 minutes off).")
    expected = sign(timestamp=timestamp, body=body)
    if not any(hmac.compare_digest(expected, part) for part in signature.split() if part.startswith("v1=")):
        raise SignatureError("Bad X-Notetaker-Signature.")


def download_host_allowed(url: str) -> bool:
    """Recording and transcript URLs come from the backend's answer, but Chorus only
    fetches them from the backend's own host: no SSRF through a bot's data."""
    configured = urlsplit(settings.NOTETAKER_API_URL or "")
    parts = urlsplit(url or "")
    return bool(configured.hostname) and parts.scheme in ("http", "https") and (
        (parts.hostname or "").lower() == configured.hostname.lower() and parts.port == configured.port
    )


@dataclass
class Downloaded:
    size: int
    content_type: str
    sha256: str


class NotetakerClient:
    def __init__(self, *, base_url: str | None = None, api_key: str | None = None):
        self.base_url = (base_url or settings.NOTETAKER_API_URL or "").rstrip("/")
        self.api_key = api_key or settings.NOTETAKER_API_KEY
        self.session = http_session()

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.api_key)

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.api_key}"}

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.configured:
            raise NotetakerError("The Notetaker service is not configured (NOTETAKER_API_URL / NOTETAKER_API_KEY).")
        try:
            resp = self.session.request(method, f"{self.base_url}{path}", json=json, headers=self._auth)
        except requests.RequestException as exc:
            raise NotetakerError("The Notetaker service could not be reached; Chorus will try again.",
                                 transient=True) from exc
        if resp.status_code == 404 and method == "DELETE":
            return {}
        if resp.status_code >= 400:
            raise NotetakerError(f"The Notetaker service answered {resp.status_code}.",
                                 transient=resp.status_code == 429 or resp.status_code >= 500)
        try:
            return resp.json() if resp.content else {}
        except ValueError as exc:
            raise NotetakerError("The Notetaker service answered something that is not JSON.",
                                 transient=True) from exc

    def schedule(self, *, meeting_url: str, bot_name: str, join_at: datetime, metadata: dict[str, str]) -> str:
        data = self._call(
            "POST",
            "/api/v1/bots",
            {"meeting_url": meeting_url, "bot_name": bot_name, "join_at": join_at.isoformat(), "metadata": metadata},
        )
        return str(data["id"])

    def reschedule(self, *, bot_id: str, join_at: datetime) -> None:
        self._call("PATCH", f"/api/v1/bots/{bot_id}", {"join_at": join_at.isoformat()})

    def cancel(self, *, bot_id: str) -> None:
        self._call("DELETE", f"/api/v1/bots/{bot_id}")

    def bot(self, *, bot_id: str) -> dict[str, Any]:
        """The finished bot: recording and transcript URLs, start, length, participants."""
        return self._call("GET", f"/api/v1/bots/{quote(bot_id, safe='')}")

    def download(self, *, url: str, dest: IO[bytes], max_bytes: int,
                 content_types: tuple[str, ...] = RECORDING_CONTENT_TYPES) -> Downloaded:
        """Stream ``url`` (the backend's host only) into ``dest`` without holding it in memory."""
        if not download_host_allowed(url):
            raise NotetakerError("The recording's address is not the Notetaker service's; it was not fetched.")
        digest, written = hashlib.sha256(), 0
        try:
            with self.session.get(url, headers=self._auth, stream=True) as resp:
                if resp.status_code >= 400:
                    raise NotetakerError(f"The Notetaker service answered {resp.status_code} to the download.",
                                         transient=resp.status_code == 429 or resp.status_code >= 500)
                content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if not content_type.startswith(content_types):
                    raise NotetakerError(f"The Notetaker service sent {content_type or 'something unknown'} "
                                         "instead of the file.")
                for chunk in resp.iter_content(DOWNLOAD_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise NotetakerError(f"The file is larger than the {max_bytes // (1024 * 1024)} MB limit.")
                    digest.update(chunk)
                    dest.write(chunk)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as exc:
            raise NotetakerError("The connection to the Notetaker service dropped during the download.",
                                 transient=True) from exc
        dest.flush()
        return Downloaded(size=written, content_type=content_type, sha256=digest.hexdigest())
