"""A local Gmail API (users.getProfile, users.messages.list/get, users.history.list)
for pytest-httpserver, strict about what Chorus may ask with the ``gmail.metadata``
scope. Each rule cites the vendor page it follows:

* Bearer token required; a token without the granted scope → 403
  ``insufficientPermissions`` ("Request had insufficient authentication scopes.") —
  https://developers.google.com/workspace/gmail/api/guides/handle-errors
* ``messages.list``: ``maxResults``, ``pageToken``, ``labelIds``,
  ``includeSpamTrash``; ``q`` is refused under the metadata scope ("Metadata scope
  does not support 'q' parameter"); newest first —
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/list
* ``messages.get``: ``format`` ``minimal``/``metadata`` only under the metadata
  scope, ``metadataHeaders`` repeated; 404 for an unknown id —
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/get
* ``history.list``: ``startHistoryId`` required; records after it in increasing
  ``id``; ``historyId`` of the mailbox in every page; 404 when ``startHistoryId`` is
  older than what the mailbox keeps —
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list
  and https://developers.google.com/workspace/gmail/api/guides/sync
* 429 with ``Retry-After`` when the per-user rate is exceeded —
  https://developers.google.com/workspace/gmail/api/reference/quota
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime

from werkzeug import Request, Response

METADATA = "https://www.googleapis.com/auth/gmail.metadata"
PARAMS = {
    "/profile": set(),
    "/messages": {"maxResults", "pageToken", "labelIds", "includeSpamTrash"},
    "/history": {"startHistoryId", "historyTypes", "maxResults", "pageToken", "labelId"},
    "/message": {"format", "metadataHeaders"},
}


def _json(body, status=200, headers=None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})


def _error(status: int, reason: str, message: str, headers=None) -> Response:
    return _json({"error": {"code": status, "message": message,
                            "errors": [{"domain": "global", "reason": reason, "message": message}]}},
                 status=status, headers=headers)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str) -> int | None:
    try:
        kind, value = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        return int(value) if kind == "offset" else None
    except ValueError:
        return None


@dataclass
class GmailFake:
    token: str = "G-ACCESS"
    scopes: set[str] = field(default_factory=lambda: {METADATA})
    prefix: str = "/g/gmail/v1/users/me"
    history_id: int = 1000
    oldest_history: int = 0  # history before this id is gone (404)
    messages: dict[str, dict] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    rate_limit: list[str] = field(default_factory=list)  # Retry-After values of the next answers (429)
    gets: list[str] = field(default_factory=list)
    _n: int = 0

    # --- the mailbox ---------------------------------------------------------------------
    def add(self, *, subject: str, sender: str, to: list[str], cc: list[str] = (), sent: datetime,
            message_id: str | None = None, labels=("INBOX",), history: bool = True) -> str:
        """A message arrives (or is sent): a new history record unless ``history`` is off."""
        self._n += 1
        gid = f"18c{self._n:05x}"
        self.history_id += 1
        headers = [{"name": "From", "value": sender}, {"name": "To", "value": ", ".join(to)},
                   {"name": "Subject", "value": subject}, {"name": "Date", "value": format_datetime(sent)},
                   {"name": "Message-ID", "value": message_id or f"<{gid}@mail.example>"},
                   {"name": "X-Other", "value": "not asked"}]
        if cc:
            headers.insert(2, {"name": "Cc", "value": ", ".join(cc)})
        self.messages[gid] = {"id": gid, "threadId": gid, "labelIds": list(labels),
                              "internalDate": str(int(sent.timestamp() * 1000)), "historyId": str(self.history_id),
                              "payload": {"mimeType": "text/plain", "headers": headers,
                                          "body": {"data": base64.urlsafe_b64encode(b"SECRET BODY").decode()}},
                              "snippet": "SECRET BODY"}
        if history:
            self.history.append({"id": str(self.history_id), "messages": [{"id": gid, "threadId": gid}],
                                 "messagesAdded": [{"message": {"id": gid, "threadId": gid,
                                                                "labelIds": list(labels)}}]})
        return gid

    def label(self, gid: str, label: str) -> None:
        """A label change: a history record that is not ``messagesAdded``."""
        self.history_id += 1
        self.history.append({"id": str(self.history_id), "messages": [{"id": gid, "threadId": gid}],
                             "labelsAdded": [{"message": {"id": gid}, "labelIds": [label]}]})

    # --- the API -------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "authError", "Invalid Credentials")
        if self.rate_limit:
            return _error(429, "rateLimitExceeded", "Too many requests",
                          headers={"Retry-After": self.rate_limit.pop(0)})
        if METADATA not in self.scopes:
            return _error(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
        path = request.path.removeprefix(self.prefix)
        kind = "/message" if path.startswith("/messages/") else path
        if kind not in PARAMS:
            return _error(404, "notFound", "Not Found")
        if "q" in request.args and kind == "/messages":
            return _error(403, "forbidden", "Metadata scope does not support 'q' parameter")
        unknown = set(request.args) - PARAMS[kind]
        if unknown:
            return _error(400, "invalidArgument", f"Unknown parameters: {sorted(unknown)}")
        return getattr(self, "_" + kind.strip("/"))(request, path)

    def _profile(self, request, path):
        return _json({"emailAddress": "me@acme.example", "messagesTotal": len(self.messages),
                      "threadsTotal": len(self.messages), "historyId": str(self.history_id)})

    def _page(self, request, rows):
        size = min(int(request.args.get("maxResults", 100)), 500)
        start = 0
        if "pageToken" in request.args:
            start = _offset(request.args["pageToken"])
            if start is None:
                return None, None, _error(400, "invalidArgument", "Invalid pageToken")
        page = rows[start:start + size]
        more = _token(start + size) if start + size < len(rows) else None
        return page, more, None

    def _messages(self, request, path):
        rows = sorted((m for m in self.messages.values() if not {"SPAM", "TRASH"} & set(m["labelIds"])),
                      key=lambda m: -int(m["internalDate"]))
        page, more, error = self._page(request, rows)
        if error:
            return error
        return _json({"messages": [{"id": m["id"], "threadId": m["threadId"]} for m in page],
                      **({"nextPageToken": more} if more else {}), "resultSizeEstimate": len(rows)})

    def _message(self, request, path):
        gid = path.rsplit("/", 1)[1]
        fmt = request.args.get("format", "full")
        if fmt not in ("minimal", "metadata"):
            return _error(403, "forbidden", "Metadata scope doesn't allow format FULL")
        if gid not in self.messages:
            return _error(404, "notFound", "Requested entity was not found.")
        self.gets.append(gid)
        m = self.messages[gid]
        out = {k: v for k, v in m.items() if k not in ("payload", "snippet")}
        if fmt == "metadata":
            wanted = {h.lower() for h in request.args.getlist("metadataHeaders")}
            headers = [h for h in m["payload"]["headers"] if not wanted or h["name"].lower() in wanted]
            out["payload"] = {"mimeType": m["payload"]["mimeType"], "headers": headers}
        return _json(out)

    def _history(self, request, path):
        if "startHistoryId" not in request.args:
            return _error(400, "invalidArgument", "startHistoryId is required")
        start = int(request.args["startHistoryId"])
        if start < self.oldest_history:
            return _error(404, "notFound", "Requested entity was not found.")
        rows = [h for h in self.history if int(h["id"]) > start]
        wanted = request.args.get("historyTypes")
        if wanted == "messageAdded":
            rows = [h for h in rows if h.get("messagesAdded")]
        page, more, error = self._page(request, rows)
        if error:
            return error
        return _json({**({"history": page} if page else {}), **({"nextPageToken": more} if more else {}),
                      "historyId": str(self.history_id)})
