"""A strict stand-in for the Zoom API calls Zoom Streaming makes, on the tests'
pytest-httpserver (``ZOOM_API_URL`` = ``<server>/v2``).

- ``PATCH /meetings/{meetingId}/livestream`` ("Update a live stream"): JSON body with
  ``stream_url`` (≤1024), ``stream_key`` (≤512) and ``page_url`` (≤1024), all required;
  204 No Content.
- ``PATCH /meetings/{meetingId}/livestream/status`` ("Update a live stream's status"):
  ``action`` ``start`` | ``stop``, ``settings`` {``active_speaker_name``, ``display_name``
  (1-50 characters)}; 204. Starting a meeting whose live stream was never configured
  is refused (400), as is an unknown meeting (404, code 3001).
- ``GET /users/{userId}``: the user (for the host's email).
Zoom Meetings API reference: https://developers.zoom.us/docs/api/meetings/ (live
streaming); body shapes as in Zoom's SDK types (MeetingsUpdateLivestreamStatusRequestBody).
Every call needs ``Authorization: Bearer <the connection's access token>``, else Zoom's
401 ``{"code": 124, "message": "Invalid access token."}``."""

from __future__ import annotations

import json
import re

from werkzeug import Request, Response


def _json(body: dict, status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class FakeZoomLiveStreams:
    def __init__(self, server, *, token: str):
        self.server, self.token = server, token
        self.meetings: set[str] = set()
        self.users: dict[str, dict] = {}
        self.configured: dict[str, dict] = {}  # meeting id → the live stream settings
        self.started: dict[str, dict] = {}  # meeting id → the start body
        self.calls: list[tuple[str, str, dict | None, str]] = []  # (method, path, body, Authorization)
        self.fail_next: list[tuple[int, dict]] = []  # answers forced on the next calls
        server.expect_request(re.compile(r"^/v2/meetings/[^/]+/livestream(/status)?$"),
                              method="PATCH").respond_with_handler(self.handle)
        server.expect_request(re.compile(r"^/v2/users/[^/]+$"), method="GET").respond_with_handler(self.user)

    def add_meeting(self, meeting_id: str) -> None:
        self.meetings.add(meeting_id)

    def add_user(self, user_id: str, email: str) -> None:
        self.users[user_id] = {"id": user_id, "email": email, "type": 2}

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.token}"

    def user(self, request: Request) -> Response:
        self.calls.append(("GET", request.path, None, request.headers.get("Authorization", "")))
        if not self._authorised(request):
            return _json({"code": 124, "message": "Invalid access token."}, 401)
        found = self.users.get(request.path.rsplit("/", 1)[1])
        return _json(found, 200) if found else _json({"code": 1001, "message": "User does not exist."}, 404)

    def handle(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        self.calls.append(("PATCH", request.path, body, auth))
        if not self._authorised(request):
            return _json({"code": 124, "message": "Invalid access token."}, 401)
        if self.fail_next:
            status, answer = self.fail_next.pop(0)
            return _json(answer, status)
        if request.headers.get("Content-Type", "").split(";")[0] != "application/json" or not isinstance(body, dict):
            return _json({"code": 300, "message": "Request Body should be a valid JSON object."}, 400)
        meeting_id = request.path.split("/")[3]
        if meeting_id not in self.meetings:
            return _json({"code": 3001, "message": f"Meeting does not exist: {meeting_id}."}, 404)
        if request.path.endswith("/status"):
            settings = body.get("settings") or {}
            name = settings.get("display_name", "x")
            if body.get("action") not in ("start", "stop") or not (1 <= len(str(name)) <= 50):
                return _json({"code": 300, "message": "Invalid field."}, 400)
            if body["action"] == "start" and meeting_id not in self.configured:
                return _json({"code": 3000, "message": "Live stream is not configured."}, 400)
            self.started[meeting_id] = body
            return Response(status=204)
        limits = {"stream_url": 1024, "stream_key": 512, "page_url": 1024}
        if set(body) - set(limits) - {"resolution"} or any(
                not isinstance(body.get(k), str) or not body[k] or len(body[k]) > n for k, n in limits.items()):
            return _json({"code": 300, "message": "Invalid field."}, 400)
        self.configured[meeting_id] = body
        return Response(status=204)
