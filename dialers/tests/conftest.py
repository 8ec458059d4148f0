"""Local stand-ins for the outside world: an HTTPS "Salesforce" (trustme CA,
trusted through REQUESTS_CA_BUNDLE, because simple-salesforce always speaks https),
a plain HTTP server for recordings and dialer APIs, and moto's S3 server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from integrations.models import Connection, ConnectionStatus
from integrations.processing.transcript import Segment
from testutils.factories import UserFactory, role

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _dialer_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DIALER_MEDIA_ALLOW_PRIVATE_HOSTS = True
    settings.DIALER_MEDIA_TIMEOUT = (2, 1)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def sf_server(https_fake):
    return https_fake


@pytest.fixture
def media_server():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def s3(moto_url, settings, monkeypatch):
    import boto3
    import requests

    requests.post(f"{moto_url}/moto-api/reset", timeout=5)
    settings.DIALER_S3_ENDPOINT_URL = moto_url
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="AKIAFIVE9",
                        aws_secret_access_key="five9-secret")


@pytest.fixture
def salesforce(org, sf_server):
    """The org's connected Salesforce (the CRM app's Connection row)."""
    base = sf_server.url_for("").rstrip("/")
    return Connection.objects.create(org=org, provider="salesforce", status=ConnectionStatus.OK,
                                     config={"instance_url": base, "login_url": base},
                                     secrets={"access_token": "sf-access-token", "refresh_token": "sf-refresh"})


@pytest.fixture
def reps(org):
    """Two reps with a Recorder licence and one Listener."""
    return {
        "ada": UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Rep"),
        "bob": UserFactory(org=org, email="bob@acme.example", first_name="Bob", last_name="Rep"),
        "lee": UserFactory(org=org, email="lee@acme.example", first_name="Lee", last_name="Listener",
                           license_type="listener"),
        "admin": UserFactory(org=org, email="boss@acme.example", role=role(org, "Admin")),
    }


class FakeTranscriber:
    """Speech-to-text that "hears" ``segments`` in any recording, for tests of the
    import rather than of the engine (``test_processing_dialer.py`` runs the real
    offline engine on a real clip). ``heard`` lists the files it was given;
    ``fail_with`` is raised instead (a worker killed mid-transcription, say)."""

    engine = "fake-stt"

    def __init__(self):
        self.segments = [Segment("", 1.0, 4.0, "Hi, this is Ada from Acme."),
                         Segment("", 5.0, 9.0, "I will send you the pricing tomorrow.")]
        self.heard: list[str] = []
        self.fail_with: BaseException | None = None

    def transcribe(self, audio_path: str) -> list[Segment]:
        self.heard.append(audio_path)
        if self.fail_with is not None:
            raise self.fail_with
        return list(self.segments)


@pytest.fixture
def transcriber(monkeypatch) -> FakeTranscriber:
    fake = FakeTranscriber()
    monkeypatch.setattr("integrations.processing.speech.transcriber_from_settings", lambda: fake)
    return fake
