"""Fakes of what the dialer import talks to: a Salesforce REST query endpoint over a
list of call Tasks (it answers the SOQL the importer sends, checking its shape,
filters by the LastModifiedDate window and pages with nextRecordsUrl, like
Salesforce), HubSpot's calls search and owners endpoints, and a media server that
misbehaves the usual ways (redirects, busy answers, expired signed links)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from werkzeug import Response

QUERY_PATH = "/services/data/v59.0/query/"
WINDOW = re.compile(r"LastModifiedDate >= (\S+) AND LastModifiedDate < (\S+)")


def sf_dt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def task(n: int, *, at: datetime, owner: str = "ada@acme.example", url: str = "", who: str = "Willy Wonka",
         who_id: str = "", field: str = "Call_Recording__c") -> dict:
    return {
        "attributes": {"type": "Task"}, "Id": f"00T{n:015d}", "Subject": f"Call {n}", "OwnerId": "005A",
        "Owner": {"attributes": {"type": "Name"}, "Email": owner}, "WhoId": who_id or None,
        "Who": {"attributes": {"type": "Name"}, "Name": who} if who else None,
        "CallDurationInSeconds": 120 + n, "CallType": "Outbound", "CallDisposition": "Connected",
        "CreatedDate": sf_dt(at), "LastModifiedDate": sf_dt(at), field: url,
    }


class FakeSalesforce:
    def __init__(self, server, tasks: list[dict], *, page_size: int = 2, field: str = "Call_Recording__c"):
        self.server, self.tasks, self.page_size, self.field = server, tasks, page_size, field
        self.queries: list[str] = []
        self.windows: list[tuple[datetime, datetime]] = []
        self.pending: dict[str, list[dict]] = {}
        server.expect_request(QUERY_PATH).respond_with_handler(self.query)
        server.expect_request(re.compile(r"^/services/data/v59\.0/query/01g.*")).respond_with_handler(self.more)

    def _page(self, rows: list[dict], token: int) -> Response:
        page, rest = rows[: self.page_size], rows[self.page_size:]
        body = {"totalSize": len(rows), "done": not rest, "records": page}
        if rest:
            key = f"01g{token:05d}-{len(self.pending)}"
            self.pending[key] = rest
            body["nextRecordsUrl"] = f"{QUERY_PATH}{key}"
        return Response(json.dumps(body), content_type="application/json")

    def query(self, request):
        assert request.headers["Authorization"] == "Bearer sf-access-token"
        soql = request.args["q"]
        self.queries.append(soql)
        assert soql.startswith("SELECT Id, Subject, OwnerId, Owner.Email, WhoId, Who.Name")
        assert f"FROM Task WHERE TaskSubtype = 'Call' AND {self.field} != null" in soql
        assert soql.endswith("ORDER BY LastModifiedDate, Id")
        start, end = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in WINDOW.search(soql).groups())
        self.windows.append((start, end))
        rows = [t for t in self.tasks if t.get(self.field)
                and start <= datetime.fromisoformat(t["LastModifiedDate"].replace("+0000", "+00:00")) < end]
        rows.sort(key=lambda t: (t["LastModifiedDate"], t["Id"]))
        return self._page(rows, len(self.queries))

    def more(self, request):
        key = request.path.rsplit("/", 1)[-1]
        return self._page(self.pending.pop(key), len(self.queries))


class FakeMedia:
    """Recordings served from a local server; a path not (yet) added answers 404."""

    def __init__(self, server):
        self.server = server
        self.routes: dict = {}
        server.expect_request(re.compile(r"^/r/.*")).respond_with_handler(self.serve)

    def add(self, path: str, body=b"ID3fake-mp3" * 4, content_type: str = "audio/mpeg") -> str:
        self.routes[path] = body if callable(body) else (body, content_type)
        return self.url(path)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        """``path`` answers a redirect to ``location`` (absolute, or relative to the server)."""
        return self.add(path, lambda request: Response("", status=status, headers={"Location": location}))

    def answers(self, path: str, responses: list[Callable[[], Response] | Response]) -> str:
        """``path`` answers ``responses`` in turn (the last one again once they run out)."""
        queue = list(responses)

        def serve(request):
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            return answer() if callable(answer) else answer
        return self.add(path, serve)

    def hits(self, path: str) -> list:
        return [request for request, _ in self.server.log if request.path == path]

    def serve(self, request):
        route = self.routes.get(request.path)
        if route is None:
            return Response("Not Found", status=404, content_type="text/plain")
        if callable(route):
            return route(request)
        body, content_type = route
        return Response(body, content_type=content_type)


def busy(status: int = 503, retry_after: str | None = None) -> Callable[[], Response]:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return lambda: Response("busy", status=status, headers=headers, content_type="text/plain")


def audio(body: bytes = b"ID3\x04\x00" + b"\x00" * 59, content_type: str = "audio/mpeg") -> Callable[[], Response]:
    return lambda: Response(body, content_type=content_type)


# S3's answer to a presigned URL used after its expiry (HTTP 403).
S3_EXPIRED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
              b"<Message>Request has expired</Message><X-Amz-Expires>3600</X-Amz-Expires>"
              b"<Expires>2026-11-28T10:00:00Z</Expires></Error>")


class FakeHubSpotCalls:
    """HubSpot's CRM v3 calls search (``POST /crm/v3/objects/calls/search``, paged
    with ``after``) and owners list, as hubspot-api-client calls them; every request
    must carry ``Bearer <token>``. ``refuse`` answers every request with that status."""

    def __init__(self, server, *, token: str, since: datetime, urls: list[str],
                 recording_property: str = "hs_call_recording_url", refuse: int = 0):
        self.server, self.token, self.since, self.urls = server, token, since, urls
        self.recording_property, self.refuse = recording_property, refuse
        self.searches: list[dict] = []
        server.expect_request("/crm/v3/objects/calls/search", method="POST").respond_with_handler(self.search)
        server.expect_request("/crm/v3/owners/").respond_with_handler(self.owners)

    def _refused(self, request) -> Response | None:
        assert request.headers["Authorization"] == f"Bearer {self.token}"
        if self.refuse:
            body = {"status": "error", "category": "MISSING_SCOPES" if self.refuse == 403 else "INVALID_AUTHENTICATION",
                    "message": "refused"}
            return Response(json.dumps(body), status=self.refuse, content_type="application/json")
        return None

    def search(self, request):
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = json.loads(request.data)
        self.searches.append(body)
        n = int(body.get("after") or 0)
        call = {"id": str(n + 1), "properties": {
            "hs_call_title": f"Call {n + 1}", "hs_timestamp": (self.since + timedelta(minutes=n + 1)).isoformat(),
            "hs_call_duration": "65000", "hubspot_owner_id": "77", self.recording_property: self.urls[n]},
            "createdAt": self.since.isoformat(), "updatedAt": self.since.isoformat(), "archived": False}
        result = {"results": [call]}
        if n + 1 < len(self.urls):
            result["paging"] = {"next": {"after": str(n + 1)}}
        return Response(json.dumps(result), content_type="application/json")

    def owners(self, request):
        refused = self._refused(request)
        if refused is not None:
            return refused
        return Response(json.dumps({"results": [{"id": "77", "email": "ada@acme.example", "archived": False,
                                                 "createdAt": self.since.isoformat(),
                                                 "updatedAt": self.since.isoformat()}]}),
                        content_type="application/json")


def dialer_call(connection, n: int, *, source: str = "", status: str = "pending", error: str = "",
                attempts: int = 0, started_at: datetime | None = None):
    """One imported call of ``connection`` (its engagement and ledger row)."""
    from dialers.models import DialerCall
    from testutils.factories import EngagementFactory

    started_at = started_at or datetime(2026, 11, 28, 11, 0, tzinfo=UTC) - timedelta(minutes=n)
    engagement = EngagementFactory(org=connection.org, kind="dialer_call", source=connection.provider,
                                   external_id=f"call-{n}", title=f"Call {n}", started_at=started_at,
                                   owner__email=f"rep{n}@acme.example")
    return DialerCall.objects.create(org=connection.org, connection=connection, dialer=connection.provider,
                                     external_id=f"call-{n}", engagement=engagement, started_at=started_at,
                                     media_source=source, media_status=status, media_error=error,
                                     media_attempts=attempts)
