"""A strict stand-in for Zoom's cloud-recording downloads (``download_url`` of each
file in a ``recording.completed`` event), served by a pytest-httpserver.

The event's ``download_token`` is what authorises a download (Zoom's recording.completed
event reference, https://developers.zoom.us/docs/api/rest/reference/zoom-api/events/ ;
Chorus sends it as ``Authorization: Bearer``): a file is served only to a request that
carries that token; anything else gets Zoom's 401 ``{"code": 124, "message": "Invalid
access token."}``. A file can
also be made to answer another status (403 when the account's transcript is not
accessible, say)."""

from __future__ import annotations

import json
import re

from werkzeug import Request, Response

PREFIX = "/rec/download/"


class FakeZoomDownloads:
    def __init__(self, server, *, token: str):
        self.server, self.token = server, token
        self.files: dict[str, tuple[bytes, str] | int] = {}
        self.requests: list[tuple[str, str]] = []  # (file, Authorization header) of every request
        server.expect_request(re.compile(rf"^{PREFIX}.*")).respond_with_handler(self.handle)

    def add(self, name: str, body: bytes, content_type: str) -> str:
        self.files[name] = (body, content_type)
        return self.url(name)

    def refuse(self, name: str, status: int) -> str:
        """``name`` answers ``status`` even to the right token."""
        self.files[name] = status
        return self.url(name)

    def url(self, name: str) -> str:
        return self.server.url_for(PREFIX + name)

    def served(self, name: str) -> list[str]:
        """The Authorization headers of the requests for ``name``."""
        return [auth for file, auth in self.requests if file == name]

    def handle(self, request: Request) -> Response:
        name = request.path.removeprefix(PREFIX)
        auth = request.headers.get("Authorization", "")
        self.requests.append((name, auth))
        if auth != f"Bearer {self.token}":
            return Response(json.dumps({"code": 124, "message": "Invalid access token."}), status=401,
                            content_type="application/json")
        found = self.files.get(name)
        if found is None:
            return Response(json.dumps({"code": 3301, "message": "This recording does not exist."}), status=404,
                            content_type="application/json")
        if isinstance(found, int):
            return Response(json.dumps({"code": 200, "message": "No permission."}), status=found,
                            content_type="application/json")
        body, content_type = found
        return Response(body, content_type=content_type)
