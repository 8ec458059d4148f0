"""The zoom_phone family: Zoom's phone recordings API through the org's Zoom app
client (paged with next_page_token, day-granular from/to filtered to the window,
automatic recordings only), recordings downloaded with the app's token."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from chorus.models import Engagement
from dialers import import_run
from dialers.importers.zoom_phone import ZoomPhoneImporter
from dialers.models import DialerCall, MediaStatus
from dialers.tests.conftest import NOW
from integrations.models import Connection
from testutils.dialer_fakes import FakeMedia

pytestmark = pytest.mark.django_db


class FakeZoomClient:
    """Stands in for integrations.conferencing.zoom.ZoomClient (its ``get`` and token)."""

    def __init__(self, media: FakeMedia):
        self.paths: list[str] = []
        at = lambda minutes: (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        self.pages = {
            "": {"recordings": [
                {"id": "r1", "call_id": "c1", "date_time": at(50), "duration": 95, "direction": "outbound",
                 "owner": {"id": "zu1"}, "callee_name": "Willy Wonka", "callee_number": "+15550001",
                 "recording_type": "Automatic", "download_url": media.add("/r/zoom1.mp3")},
                {"id": "r2", "call_id": "c2", "date_time": at(40), "duration": 30, "direction": "inbound",
                 "owner": {"id": "zu1"}, "caller_name": "Ad hoc", "recording_type": "On-demand",
                 "download_url": media.add("/r/zoom2.mp3")},
            ], "next_page_token": "p2"},
            "p2": {"recordings": [
                {"id": "r3", "call_id": "c3", "date_time": at(60 * 5), "duration": 30, "direction": "inbound",
                 "owner": {"id": "zu1"}, "recording_type": "Automatic", "download_url": media.add("/r/zoom3.mp3")},
                {"id": "r4", "call_id": "c4", "date_time": at(10), "duration": 61, "direction": "inbound",
                 "owner": {"id": "zu1"}, "caller_name": "Slugworth", "caller_number": "+15550002",
                 "recording_type": "Automatic", "download_url": media.add("/r/zoom4.mp3")},
            ], "next_page_token": ""},
        }

    def get(self, path: str) -> dict:
        self.paths.append(path)
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}
        if path.startswith("/phone/users"):
            return {"users": [{"id": "zu1", "email": "Ada@acme.example"}], "next_page_token": ""}
        assert query["page_size"] == "300" and query["from"] == query["to"] == "2026-11-28"
        return self.pages[query["next_page_token"]]

    def _access_token(self) -> str:
        return "zoom-token"


def test_automatic_recordings_in_the_window_become_calls(org, reps, media_server):
    media = FakeMedia(media_server)
    client = FakeZoomClient(media)
    connection = Connection.objects.create(org=org, provider="zoom_phone", config={"activated": True})
    importer = ZoomPhoneImporter(client=client, http=__import__("requests").Session())

    result = import_run.dialer_calls_import(connection=connection, since=NOW - timedelta(hours=1), until=NOW,
                                          importer=importer)

    assert result.found == 2 and result.imported == 2  # on-demand r2 dropped; r3 is outside the hour
    assert set(Engagement.objects.values_list("external_id", flat=True)) == {"c1", "c4"}
    e = Engagement.objects.get(external_id="c1")
    assert e.owner == reps["ada"] and e.title == "Zoom Phone call with Willy Wonka" and e.source == "zoom_phone"
    assert DialerCall.objects.filter(media_status=MediaStatus.STORED).count() == 2
    assert all(req.headers["Authorization"] == "Bearer zoom-token" for req, _ in media_server.log)


def test_zoom_phone_without_the_zoom_app_says_activate(org, reps, salesforce):
    connection = Connection.objects.create(org=org, provider="zoom_phone", config={"activated": True})
    import_run.dialer_import_run(connection=connection, now=NOW)
    connection.refresh_from_db()
    assert connection.last_error.startswith("The Chorus Zoom app is not installed: click Activate under Native Zoom")
