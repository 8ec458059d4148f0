"""A fake of the Notetaker bot backend (the Attendee-shaped API of
``integrations.conferencing.notetaker``) on a local HTTPS server, plus its side of
the webhook: deliveries built and signed exactly as the backend does
(``X-Notetaker-Timestamp``, ``X-Notetaker-Signature: v1=<HMAC-SHA256 of "ts.body">``).

* ``POST /api/v1/bots`` schedules a bot (its id is the backend's), ``PATCH`` moves it,
  ``DELETE`` cancels it; ``GET /api/v1/bots/<id>`` describes a finished bot.
* Recordings and transcripts are served from the same host under ``/media/``.
* Every request needs ``Authorization: Token <key>`` (401 otherwise); an unknown bot is 404.
* ``faults``: statuses answered (in order) to the next ``GET /api/v1/bots/<id>`` calls.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from integrations.conferencing import notetaker

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64  # a small "MP4"
VTT = """WEBVTT

1
00:00:01.000 --> 00:00:05.000
<v Ada Host>Hi Willy, thanks for joining. This call is being recorded.

2
00:00:06.000 --> 00:00:12.000
<v Willy Wonka>Our budget is tight and the price matters a lot to us.
"""


@dataclass
class Bot:
    id: str
    meeting_url: str
    bot_name: str
    join_at: str
    metadata: dict[str, Any]
    state: str = "scheduled"
    recording: bytes = b""
    content_type: str = "video/mp4"
    transcript: str = ""
    participants: list[dict[str, str]] = field(default_factory=list)
    started_at: str = ""
    duration_seconds: int = 0


class NotetakerBackend:
    def __init__(self, server, *, api_key: str, secret: str):
        self.server, self.api_key, self.secret = server, api_key, secret
        self.bots: dict[str, Bot] = {}
        self.faults: list[int] = []
        self.requests: list[tuple[str, str]] = []
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    # --- The API ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Token {self.api_key}":
            return self._json({"detail": "Invalid token."}, 401)
        path = request.path
        if path == "/api/v1/bots" and request.method == "POST":
            body = request.get_json()
            bot = Bot(id="bot_" + uuid.uuid4().hex[:16], meeting_url=body["meeting_url"], bot_name=body["bot_name"],
                      join_at=body["join_at"], metadata=body.get("metadata") or {})
            self.bots[bot.id] = bot
            return self._json({"id": bot.id, "state": bot.state, "metadata": bot.metadata}, 201)
        if m := re.fullmatch(r"/api/v1/bots/([^/]+)", path):
            bot = self.bots.get(m.group(1))
            if bot is None:
                return self._json({"detail": "Not found."}, 404)
            if request.method == "DELETE":
                del self.bots[bot.id]
                return Response(status=204)
            if request.method == "PATCH":
                bot.join_at = request.get_json()["join_at"]
                return self._json({"id": bot.id, "join_at": bot.join_at})
            if request.method == "GET":
                if self.faults:
                    return self._json({"detail": "busy"}, self.faults.pop(0))
                return self._json(self.describe(bot))
        if m := re.fullmatch(r"/media/([^/]+)/(recording|transcript)", path):
            bot = self.bots.get(m.group(1))
            if bot is None or (m.group(2) == "recording" and not bot.recording):
                return self._json({"detail": "Not found."}, 404)
            if m.group(2) == "recording":
                return Response(bot.recording, content_type=bot.content_type)
            if not bot.transcript:
                return self._json({"detail": "Not found."}, 404)
            return Response(bot.transcript, content_type="text/vtt; charset=utf-8")
        return self._json({"detail": "Not found."}, 404)

    def describe(self, bot: Bot) -> dict[str, Any]:
        done = bot.state == "ended"
        return {
            "id": bot.id,
            "state": bot.state,
            "metadata": bot.metadata,
            "meeting_url": bot.meeting_url,
            "recording_url": f"{self.base_url}/media/{bot.id}/recording" if done and bot.recording else None,
            "transcript_url": f"{self.base_url}/media/{bot.id}/transcript" if done and bot.transcript else None,
            "duration_seconds": bot.duration_seconds,
            "started_at": bot.started_at,
            "participants": bot.participants,
        }

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")

    # --- The meeting ------------------------------------------------------------------------

    def finish(self, bot_id: str, *, recording: bytes = VIDEO, transcript: str = VTT,
               participants: list[dict[str, str]] | None = None, started_at: str = "2026-12-01T15:00:00+00:00",
               duration_seconds: int = 1800) -> Bot:
        bot = self.bots[bot_id]
        bot.state, bot.recording, bot.transcript = "ended", recording, transcript
        bot.participants = participants if participants is not None else [
            {"name": "Ada Host", "email": "ada@acme.example"},
            {"name": "Willy Wonka", "email": "willy@wonka.example"},
        ]
        bot.started_at, bot.duration_seconds = started_at, duration_seconds
        return bot

    # --- The webhook ------------------------------------------------------------------------

    def event(self, kind: str, bot_id: str, *, reason: str = "", event_id: str | None = None,
              created_at: str | None = None, metadata: dict | None = None) -> dict[str, Any]:
        bot = self.bots.get(bot_id)
        data: dict[str, Any] = {"metadata": metadata if metadata is not None else (bot.metadata if bot else {})}
        if reason:
            data["reason"] = reason
        return {
            "id": event_id or "evt_" + uuid.uuid4().hex,
            "event": kind,
            "bot_id": bot_id,
            "created_at": created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "data": data,
        }

    def signed_headers(self, body: bytes, *, timestamp: str | None = None, secret: str | None = None) -> dict:
        ts = timestamp or str(int(time.time()))
        return {
            "HTTP_X_NOTETAKER_TIMESTAMP": ts,
            "HTTP_X_NOTETAKER_SIGNATURE": notetaker.sign(timestamp=ts, body=body, secret=secret or self.secret),
        }

    def deliver(self, client, payload: dict[str, Any], *, timestamp: str | None = None, secret: str | None = None,
                body: bytes | None = None, headers: dict | None = None):
        """POST one delivery to Chorus's webhook, signed as the backend signs it."""
        raw = body if body is not None else json.dumps(payload).encode()
        h = self.signed_headers(raw, timestamp=timestamp, secret=secret) if headers is None else headers
        return client.post("/integrations/notetaker/webhook", data=raw, content_type="application/json", **h)
