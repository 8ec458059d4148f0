"""The s3_bucket family (Five9): calls listed from Salesforce call Tasks, recordings
read with boto3 from the dialer's bucket (moto's S3 server) with the Auth Key and
Auth Secret Key the admin entered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage

from chorus.models import Engagement
from dialers import import_run
from dialers.importers.base import MediaError
from dialers.importers.s3_bucket import S3BucketImporter, parse_bucket_link
from dialers.models import DialerCall, MediaStatus
from dialers.tests.conftest import NOW
from integrations.models import Connection, ConnectionStatus
from testutils.dialer_fakes import FakeSalesforce, task

pytestmark = pytest.mark.django_db
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " * 8


@pytest.fixture
def five9(org, salesforce):
    return Connection.objects.create(
        org=org, provider="five9", status=ConnectionStatus.QUEUED,
        config={"crm_field": "Five9_Recording__c", "s3_bucket_link": "s3://acme-five9/recordings/", "activated": True},
        secrets={"auth_key": "AKIAFIVE9", "auth_secret_key": "five9-secret"})


def test_five9_calls_from_tasks_and_recordings_from_the_bucket(org, reps, sf_server, s3, five9, settings):
    settings.DIALER_MEDIA_MAX_BYTES = 10_000
    s3.create_bucket(Bucket="acme-five9")
    s3.put_object(Bucket="acme-five9", Key="recordings/2026/11/call-1.wav", Body=WAV, ContentType="audio/wav")
    s3.put_object(Bucket="acme-five9", Key="recordings/2026/11/call-3.wav", Body=b"x" * 20_000, ContentType="audio/wav")
    s3.put_object(Bucket="acme-five9", Key="recordings/page.html", Body=b"<html>", ContentType="text/html")
    s3.create_bucket(Bucket="someone-else")
    s3.put_object(Bucket="someone-else", Key="secret.wav", Body=WAV, ContentType="audio/wav")
    field = "Five9_Recording__c"
    tasks = [
        task(1, at=NOW - timedelta(minutes=50), url="2026/11/call-1.wav", field=field),  # key under the link
        task(2, at=NOW - timedelta(minutes=40), url="s3://acme-five9/recordings/2026/11/missing.wav", field=field),
        task(3, at=NOW - timedelta(minutes=30), url="https://acme-five9.s3.amazonaws.com/recordings/2026/11/call-3.wav",
             field=field),
        task(4, at=NOW - timedelta(minutes=20), url="s3://someone-else/secret.wav", field=field),
        task(5, at=NOW - timedelta(minutes=10), url="s3://acme-five9/recordings/page.html", field=field),
    ]
    FakeSalesforce(sf_server, tasks, field=field)
    five9.config["imported_through"] = (NOW - timedelta(hours=1)).isoformat()
    five9.save()

    result = import_run.dialer_import_run(connection=five9, now=NOW)

    assert result["imported"] == 5 and result["media_stored"] == 1
    calls = {c.external_id[-1]: c for c in DialerCall.objects.all()}
    assert calls["1"].media_status == MediaStatus.STORED and calls["1"].media_content_type == "audio/wav"
    assert default_storage.open(calls["1"].media_name).read() == WAV
    assert calls["2"].media_status == MediaStatus.FAILED and "not in the S3 bucket" in calls["2"].media_error
    assert calls["3"].media_status == MediaStatus.REJECTED and "larger than" in calls["3"].media_error
    assert calls["4"].media_status == MediaStatus.REJECTED
    assert "not in the configured S3 Bucket Link" in calls["4"].media_error
    assert calls["5"].media_status == MediaStatus.REJECTED and "text/html" in calls["5"].media_error
    assert Engagement.objects.filter(source="five9").count() == 5
    five9.refresh_from_db()
    assert five9.last_error.startswith("4 recordings could not be downloaded")

    # Wrong credentials: a clear sentence, retried later.
    five9.secrets = {"auth_key": "AKIAFIVE9", "auth_secret_key": "wrong"}
    importer = S3BucketImporter(source=None, field=field, client=_client(settings, five9.secrets),
                                bucket_link="s3://acme-five9/recordings/")
    with pytest.raises(MediaError) as err:
        import io
        importer.fetch_media("2026/11/call-1.wav", io.BytesIO(), max_bytes=10_000)
    assert not err.value.permanent


def _client(settings, secrets):
    from dialers.importers.s3_bucket import s3_client

    client = s3_client(secrets=secrets)
    # moto accepts any key unless IAM is enforced; simulate S3's refusal of a bad signature.
    def refuse(**kwargs):
        from botocore.exceptions import ClientError
        raise ClientError({"Error": {"Code": "SignatureDoesNotMatch", "Message": "no"}}, "GetObject")
    client.get_object = refuse
    return client


@pytest.mark.parametrize("link,expected", [
    ("s3://bucket/path/", ("bucket", "path/")),
    ("https://bucket.s3.amazonaws.com/a/b.wav", ("bucket", "a/b.wav")),
    ("https://bucket.s3.eu-west-1.amazonaws.com/a.wav", ("bucket", "a.wav")),
    ("https://s3.eu-west-1.amazonaws.com/bucket/a.wav", ("bucket", "a.wav")),
    ("bucket/prefix", ("bucket", "prefix")),
])
def test_bucket_links(link, expected):
    assert parse_bucket_link(link) == expected
