"""Delete Calls Without Recording Notification (Enterprise): enabled vs disabled
role, notification present vs missing, media deleted, audit without content, and
a deleted call never comes back with the next import."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from chorus.models import AuditEvent, Engagement, Organization, Participant, Role
from dialers import services
from dialers.importers.base import CallRecord
from dialers.models import ComplianceSettings, DialerCall, MediaStatus
from dialers.tests.conftest import NOW
from integrations.models import Connection
from testutils.factories import UserFactory

pytestmark = pytest.mark.django_db
NOTIFIED = ("[00:02] Rey: Hi, this is Rey from Acme.\n[00:05] Rey: Just so you know, this call is being recorded.\n"
            "[00:40] Willy: Fine.")
LATE = "[00:02] Rey: Hi, this is Rey from Acme.\n[00:45] Rey: By the way, this call is being recorded.\n"
NONE = "Rey: Hi, this is Rey.\nWilly: Hello, what do you want?"


@pytest.fixture
def enterprise(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    return org


@pytest.fixture
def strict_role(enterprise):
    return Role.objects.create(org=enterprise, name="Rep (EU)", delete_calls_without_notification=True)


def make_call(org, owner, n: int, transcript: str = "", detected=None) -> DialerCall:
    e = Engagement.objects.create(org=org, kind="dialer_call", title=f"Call with Willy {n}", started_at=NOW,
                                  duration_seconds=300, owner=owner, source="outreach", external_id=f"T{n}",
                                  transcript=transcript, recording_notification_detected=detected)
    Participant.objects.create(org=org, engagement=e, name="Willy Wonka", email="willy@wonka.example")
    name = default_storage.save(f"dialers/{org.pk}/outreach/t{n}.mp3", ContentFile(b"ID3audio"))
    return DialerCall.objects.create(org=org, dialer="outreach", external_id=f"T{n}", engagement=e, started_at=NOW,
                                     media_name=name, media_status=MediaStatus.STORED)


@pytest.mark.parametrize("transcript,detected,deleted", [
    (NOTIFIED, None, False),
    (LATE, None, True),  # said after the 30-second window
    (NONE, None, True),
    ("", True, False),  # the detector heard it (no transcript needed)
    (NOTIFIED, False, True),  # the detector's verdict wins over the text
])
def test_enabled_role(enterprise, strict_role, transcript, detected, deleted):
    owner = UserFactory(org=enterprise, email="rey@acme.example", role=strict_role)
    call = make_call(enterprise, owner, 1, transcript, detected)
    media = call.media_name
    assert services.dialer_calls_compliance_sweep(org=enterprise) == int(deleted)
    call.refresh_from_db()
    assert Engagement.objects.filter(pk=call.engagement_id or 0).exists() == (not deleted)
    assert default_storage.exists(media) == (not deleted)
    assert call.compliance_checked_at is not None
    if deleted:
        assert call.engagement is None and call.deleted_at and call.media_name == ""
        event = AuditEvent.objects.get(action="dialer_call.deleted_noncompliant")
        assert event.target == "Outreach call T1" and event.changes["owner"] == "rey@acme.example"
        assert event.changes["role"] == "Rep (EU)" and event.changes["media_deleted"] is True
        assert "first 30 seconds" in event.changes["reason"]
        flat = str(event.changes) + event.target
        assert "Willy" not in flat and "recorded" not in flat.replace("recording notification", "")  # no content
        assert not Participant.objects.filter(name="Willy Wonka").exists()


def test_disabled_role_keeps_calls_without_notification(enterprise):
    owner = UserFactory(org=enterprise, email="rey@acme.example")  # Rep (AE/Other): setting off
    call = make_call(enterprise, owner, 1, NONE)
    assert services.dialer_calls_compliance_sweep(org=enterprise) == 0
    call.refresh_from_db()
    assert call.engagement is not None and call.compliance_checked_at is not None
    assert not AuditEvent.objects.filter(action="dialer_call.deleted_noncompliant").exists()


def test_standard_package_never_deletes(org):
    role = Role.objects.create(org=org, name="Strict", delete_calls_without_notification=True)
    call = make_call(org, UserFactory(org=org, role=role), 1, NONE)
    assert services.dialer_calls_compliance_sweep(org=org) == 0
    assert Engagement.objects.filter(pk=call.engagement_id).exists()


def test_calls_without_a_transcript_yet_wait(enterprise, strict_role):
    call = make_call(enterprise, UserFactory(org=enterprise, role=strict_role), 1, "")
    assert services.dialer_calls_compliance_sweep(org=enterprise) == 0
    call.refresh_from_db()
    assert call.compliance_checked_at is None  # decided once the transcript arrives


def test_phrases_and_window_are_configurable(enterprise, strict_role):
    ComplianceSettings.objects.create(org=enterprise, phrases=["esta llamada se graba"], window_seconds=60)
    owner = UserFactory(org=enterprise, role=strict_role)
    kept = make_call(enterprise, owner, 1, "[00:50] Ana: Esta llamada se graba.")
    gone = make_call(enterprise, owner, 2, NOTIFIED)  # English phrase not in this org's list
    assert services.dialer_calls_compliance_sweep(org=enterprise) == 1
    kept.refresh_from_db(), gone.refresh_from_db()
    assert kept.engagement_id and gone.engagement_id is None


def test_untimed_transcripts_use_the_speaking_rate():
    phrases = ["this call is being recorded"]
    early = "Rep: hello there. " + "Rep: this call is being recorded."
    late = "Rep: " + "word " * 100 + "\nRep: this call is being recorded."  # ~40 s in
    assert services.notification_heard(transcript=early, phrases=phrases, window_seconds=30)
    assert not services.notification_heard(transcript=late, phrases=phrases, window_seconds=30)


def test_a_deleted_call_is_not_imported_again(enterprise, strict_role):
    owner = UserFactory(org=enterprise, email="rey@acme.example", role=strict_role)
    connection = Connection.objects.create(org=enterprise, provider="outreach", config={"crm_field": "X__c"})
    make_call(enterprise, owner, 1, NONE)
    services.dialer_calls_compliance_sweep(org=enterprise)

    class Again:
        def pages(self, *, since, until):
            yield [CallRecord(external_id="T1", started_at=NOW, owner_email="rey@acme.example", media_source="http://x")]

        def fetch_media(self, *a, **kw):  # pragma: no cover - never reached
            raise AssertionError

    result = services.dialer_calls_import(connection=connection, since=NOW - timedelta(hours=1), until=NOW,
                                          importer=Again())
    assert result.imported == 0 and result.already_imported == 1
    assert not Engagement.objects.filter(external_id="T1").exists()
