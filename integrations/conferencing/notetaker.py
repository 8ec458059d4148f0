"""Client of the recording-bot backend (the open-source Attendee bot API shape:
``POST/PATCH/DELETE /api/v1/bots``, ``Authorization: Token <key>``).
``NOTETAKER_API_URL`` / ``NOTETAKER_API_KEY`` point it at the backend."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests
from django.conf import settings

from integrations.http import http_session


class NotetakerError(Exception):
    """The bot backend refused or could not be reached; a sentence for the page."""


class NotetakerClient:
    def __init__(self, *, base_url: str | None = None, api_key: str | None = None):
        self.base_url = (base_url or settings.NOTETAKER_API_URL or "").rstrip("/")
        self.api_key = api_key or settings.NOTETAKER_API_KEY
        self.session = http_session()

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.api_key)

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.configured:
            raise NotetakerError("The Notetaker service is not configured (NOTETAKER_API_URL / NOTETAKER_API_KEY).")
        try:
            resp = self.session.request(
                method, f"{self.base_url}{path}", json=json, headers={"Authorization": f"Token {self.api_key}"}
            )
        except requests.RequestException as exc:
            raise NotetakerError("The Notetaker service could not be reached; Chorus will try again.") from exc
        if resp.status_code == 404 and method == "DELETE":
            return {}
        if resp.status_code >= 400:
            raise NotetakerError(f"The Notetaker service answered {resp.status_code}.")
        return resp.json() if resp.content else {}

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
