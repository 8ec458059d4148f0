"""A local Microsoft Graph for message delta (``/me/mailFolders/{id}/messages/delta``)
for pytest-httpserver, strict about what Chorus may ask with ``Mail.ReadBasic``.
Each rule cites the vendor page it follows:

* Bearer token required (401 ``InvalidAuthenticationToken``); a token without a mail
  scope → 403 ``ErrorAccessDenied`` ("Access is denied. Check credentials and try
  again."); ``Mail.ReadBasic`` does not read ``body``/``bodyPreview``/``uniqueBody`` —
  https://learn.microsoft.com/en-us/graph/permissions-reference#mailreadbasic
* The first request of a round may carry ``$select``, ``$top`` and only
  ``$filter=receivedDateTime ge|gt {value}``; later requests are the
  ``@odata.nextLink`` / ``@odata.deltaLink`` as given (only ``$skiptoken`` /
  ``$deltatoken``); unknown properties in ``$select`` → 400 —
  https://learn.microsoft.com/en-us/graph/api/message-delta
* ``Prefer: odata.maxpagesize`` sets the page size (default 10) —
  https://learn.microsoft.com/en-us/graph/delta-query-messages
* An expired token → 410 Gone with ``SyncStateNotFound`` —
  https://learn.microsoft.com/en-us/graph/delta-query-overview
* 429 with ``Retry-After`` —
  https://learn.microsoft.com/en-us/graph/throttling
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from werkzeug import Request, Response

PROPERTIES = {"id", "subject", "from", "sender", "toRecipients", "ccRecipients", "bccRecipients", "sentDateTime",
              "receivedDateTime", "internetMessageId", "isDraft", "isRead", "conversationId", "parentFolderId",
              "body", "bodyPreview", "uniqueBody", "hasAttachments", "importance", "categories"}
BODY = {"body", "bodyPreview", "uniqueBody"}
FILTER = re.compile(r"^receivedDateTime (ge|gt) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$")


def _json(body, status=200, headers=None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})


def _error(status: int, code: str, message: str, headers=None) -> Response:
    return _json({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _pack(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _unpack(token: str) -> dict | None:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        return None


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GraphMailFake:
    base: str  # the server's URL of the Graph root, e.g. http://localhost:1234/graph
    token: str = "M-ACCESS"
    mail_scope: bool = True
    generation: int = 1  # bump to expire every token (410)
    folders: dict[str, list[dict]] = field(default_factory=lambda: {"inbox": [], "sentitems": []})
    rate_limit: list[str] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    _seq: int = 0

    @property
    def prefix(self) -> str:
        return "/" + self.base.split("/", 3)[3]

    def add(self, folder: str, *, subject: str, sender: str, to: list[str], cc: list[str] = (), sent: datetime,
            message_id: str | None = None, draft: bool = False) -> str:
        self._seq += 1
        mid = f"AAMk{self._seq:04d}"

        def addr(a):
            name, _, email = a.rpartition(" ")
            return {"emailAddress": {"name": name or email.split("@")[0], "address": email.strip("<>")}}

        self.folders[folder].append({
            "seq": self._seq, "id": mid, "subject": subject, "from": addr(sender), "sender": addr(sender),
            "toRecipients": [addr(a) for a in to], "ccRecipients": [addr(a) for a in cc], "bccRecipients": [],
            "sentDateTime": _iso(sent), "receivedDateTime": _iso(sent), "isDraft": draft, "isRead": False,
            "internetMessageId": message_id or f"<{mid}@acme.onmicrosoft.com>",
            "body": {"contentType": "text", "content": "SECRET BODY"}, "bodyPreview": "SECRET BODY",
            "uniqueBody": {"contentType": "text", "content": "SECRET BODY"}, "conversationId": "c",
            "parentFolderId": folder, "hasAttachments": False, "importance": "normal", "categories": []})
        return mid

    def handle(self, request: Request) -> Response:
        self.requests.append({"path": request.path, "args": dict(request.args),
                              "prefer": request.headers.get("Prefer")})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "InvalidAuthenticationToken", "Access token validation failure.")
        if self.rate_limit:
            return _error(429, "TooManyRequests", "Application is over its MailboxConcurrency limit.",
                          headers={"Retry-After": self.rate_limit.pop(0)})
        if not self.mail_scope:
            return _error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        m = re.fullmatch(re.escape(self.prefix) + r"/me/mailFolders/([^/]+)/messages/delta", request.path)
        if not m or m.group(1) not in self.folders:
            return _error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        folder, args = m.group(1), dict(request.args)
        if "$skiptoken" in args or "$deltatoken" in args:
            if len(args) != 1:
                return _error(400, "BadRequest", "Query options are encoded in the token; send the link as given.")
            state = _unpack(args.get("$skiptoken") or args.get("$deltatoken"))
            if not state or state.get("gen") != self.generation or state.get("folder") != folder:
                return _error(410, "SyncStateNotFound", "The sync state generation is invalid or expired.")
            if "$deltatoken" in args:
                state = {**state, "from": state["to"], "offset": 0}
        else:
            unknown = set(args) - {"$select", "$filter", "$top"}
            if unknown:
                return _error(400, "BadRequest", f"Query option(s) {sorted(unknown)} not supported by delta.")
            select = [s.strip() for s in args.get("$select", "").split(",") if s.strip()]
            if bad := [s for s in select if s not in PROPERTIES]:
                return _error(400, "RequestBroker--ParseUri",
                              f"Could not find a property named '{bad[0]}' on type 'microsoft.graph.message'.")
            if BODY & set(select):
                return _error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            since = ""
            if "$filter" in args:
                f = FILTER.match(args["$filter"])
                if not f:
                    return _error(400, "ErrorInvalidRestriction", "Only receivedDateTime ge/gt is supported.")
                since = f.group(2)
            state = {"gen": self.generation, "folder": folder, "select": select, "since": since, "from": 0,
                     "offset": 0}
        # A round sees what changed after ``from`` and up to the sequence at its start (``to``).
        state.setdefault("to", self._seq)
        if state["offset"] == 0:
            state["to"] = self._seq
        rows = [r for r in self.folders[folder] if state["from"] < r["seq"] <= state["to"]
                and (not state["since"] or r["receivedDateTime"] >= state["since"])]
        prefer = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
        size = int(prefer.group(1)) if prefer else 10
        page = rows[state["offset"]:state["offset"] + size]
        link = f"{self.base}/me/mailFolders/{folder}/messages/delta?"
        body = {"@odata.context": f"{self.base}/$metadata#Collection(message)",
                "value": [self._shape(r, state["select"]) for r in page]}
        if state["offset"] + size < len(rows):
            more = {**state, "offset": state["offset"] + size}
            body["@odata.nextLink"] = link + urlencode({"$skiptoken": _pack(more)})
        else:
            body["@odata.deltaLink"] = link + urlencode({"$deltatoken": _pack({**state, "offset": 0})})
        return _json(body)

    @staticmethod
    def _shape(row: dict, select: list[str]) -> dict:
        keys = set(select or PROPERTIES - BODY) | {"id"}
        return {"@odata.type": "#microsoft.graph.message", **{k: v for k, v in row.items() if k in keys}}
