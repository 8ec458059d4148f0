"""A fake Salesforce REST query endpoint over a list of call Tasks: it answers the
SOQL the importer sends (checking its shape), filters by the LastModifiedDate
window and pages with nextRecordsUrl, like Salesforce."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

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

    def serve(self, request):
        route = self.routes.get(request.path)
        if route is None:
            return Response("Not Found", status=404, content_type="text/plain")
        if callable(route):
            return route(request)
        body, content_type = route
        return Response(body, content_type=content_type)
