import importlib
import json
import time
from pathlib import Path

import pytest
from django.urls import reverse

from chorus.models import Organization
from integrations.conferencing import zoom
from integrations.models import Connection
from integrations.processing.services import RUN_DUE_TASK as PROCESSING_TASK
from integrations.storage.tests.conftest import s3, s3_bucket  # noqa: F401  (fixtures)
from testutils.factories import UserFactory

FIXTURES = Path(__file__).parent / "fixtures" / "zoom"
SECRET = "zoom-webhook-secret-for-tests"


def load(name: str, **replacements) -> dict:
    text = (FIXTURES / f"{name}.json").read_text()
    for key, value in replacements.items():
        text = text.replace("{" + key + "}", value)
    return json.loads(text)


@pytest.fixture(autouse=True)
def zoom_settings(settings, tmp_path, httpserver):
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = SECRET
    settings.ZOOM_CLIENT_ID = "zoom-client-id"
    settings.ZOOM_CLIENT_SECRET = "zoom-client-secret"
    settings.ZOOM_OAUTH_URL = httpserver.url_for("").rstrip("/")
    settings.ZOOM_API_URL = httpserver.url_for("/v2").rstrip("/")
    settings.CHORUS_BASE_URL = "https://chorus.test"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@pytest.fixture
def enterprise_org(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    return org


@pytest.fixture
def host(enterprise_org):
    return UserFactory(org=enterprise_org, email="ada@acme.example", first_name="Ada", last_name="Host")


@pytest.fixture
def zoom_connection(enterprise_org, admin_user):
    return Connection.objects.create(
        org=enterprise_org,
        provider="zoom",
        status="ok",
        connected_by=admin_user,
        config={
            "account_id": "ACCT-ACME-1",
            "installed_by_email": "owner@acme.example",
            "streaming": True,
            "post_call_download": True,
            "recording_method": "post_call_download",
            "scopes": ["cloud_recording:read:list_recording_files:admin", "user:read:admin"],
        },
        secrets={
            "access_token": "ZOOM-ACCESS-1",
            "refresh_token": "ZOOM-REFRESH-1",
            "expires_at": "2999-01-01T00:00:00+00:00",
        },
    )


def signed_headers(body: bytes, *, timestamp: str | None = None, secret: str = SECRET) -> dict:
    ts = timestamp or str(int(time.time()))
    return {"HTTP_X_ZM_REQUEST_TIMESTAMP": ts, "HTTP_X_ZM_SIGNATURE": zoom.sign(timestamp=ts, body=body, secret=secret)}


@pytest.fixture
def post_event(client):
    """POST a payload to the webhook, really signed (or as told)."""

    def post(payload, *, timestamp=None, secret=SECRET, body=None, headers=None):
        raw = body if body is not None else json.dumps(payload).encode()
        h = signed_headers(raw, timestamp=timestamp, secret=secret) if headers is None else headers
        return client.post(reverse("zoom-webhook"), data=raw, content_type="application/json", **h)

    return post


@pytest.fixture
def run_tasks(monkeypatch):
    """django-q2's async_task replaced by an inline call, so queued work runs
    when the test executes the on-commit callbacks — except the processing workers'
    wake-up, which is only recorded: as in every test, processing runs when the test
    calls ``testutils.processing.process_queued()`` (so a test can look between the
    import and "ready")."""
    calls = []

    def inline(func, *args, **kwargs):
        kwargs.pop("group", None)
        calls.append((func, args))
        if func == PROCESSING_TASK:
            return None
        module, name = func.rsplit(".", 1)
        return getattr(importlib.import_module(module), name)(*args)

    monkeypatch.setattr("django_q.tasks.async_task", inline)
    return calls
