"""Dialer recordings land in the org's Custom Media Bucket when it has one (seed:
"Recordings from then on are stored there")."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import boto3
import pytest
from werkzeug import Response

from chorus.models import Engagement
from dialers import import_run
from dialers.tests.conftest import NOW
from dialers.tests.test_import_dialer_api import aircall  # noqa: F401  (fixture)
from integrations.models import Connection, ConnectionStatus
from integrations.storage.models import RecordingFile
from integrations.storage.services import PROVIDER_KEY
from testutils.dialer_fakes import FakeMedia

pytestmark = pytest.mark.django_db


@pytest.fixture
def bucket(org, moto_url, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    name = f"acme-calls-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
    client.create_bucket(Bucket=name)
    conn = Connection.objects.create(org=org, provider=PROVIDER_KEY, status=ConnectionStatus.OK,
                                     config={"kind": "s3", "bucket": name, "region": "us-east-1", "prefix": "chorus"},
                                     secrets={"access_key_id": "AKIAEXAMPLE", "secret_access_key": "x"})
    return conn, client, name


def test_recordings_are_stored_in_the_custom_media_bucket(org, reps, media_server, aircall, bucket):  # noqa: F811
    conn, client, name = bucket
    media = FakeMedia(media_server)
    since, until = NOW - timedelta(hours=1), NOW
    calls = [{"id": 1, "started_at": int((since + timedelta(minutes=5)).timestamp()), "duration": 60,
              "user": {"email": "ada@acme.example"}, "contact": {"name": "Willy", "email": "w@wonka.example"},
              "recording": media.add("/r/1.mp3")}]
    media_server.expect_request("/aircall/v1/calls").respond_with_handler(
        lambda r: Response(json.dumps({"calls": calls, "meta": {}}), content_type="application/json"))

    result = import_run.dialer_calls_import(connection=aircall, since=since, until=until)

    assert result.media_stored == 1
    engagement = Engagement.objects.get(source="aircall_hubspot", external_id="1")
    rf = RecordingFile.objects.get(engagement=engagement)
    assert rf.bucket == conn and rf.size > 0
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", [])]
    assert keys == [f"chorus/{rf.name}"] or keys == [rf.name]
