"""Delete Calls Without Recording Notification (Enterprise), decided by the ready
gate on processing's verdict: enabled vs disabled role, notification in the window,
late or missing, an unknown verdict, media deleted, audit without content, no CRM
object for a deleted call, and a deleted call never comes back with the next import.

Each call gets its transcript the way processing gets one from a source that has it
(a WebVTT provider transcript), then ``process_queued()`` runs what a worker would."""

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
from integrations.models import Connection, Delivery
from integrations.processing.models import EngagementProcessing
from integrations.processing.services import processing_queue
from integrations.storage.models import RecordingFile
from testutils.factories import OrganizationFactory, UserFactory
from testutils.processing import process_queued

pytestmark = pytest.mark.django_db


def vtt(*cues: tuple[str, str, str]) -> str:
    """A WebVTT transcript of ("mm:ss", "mm:ss", "Speaker: text") cues."""
    blocks = [f"{n}\n00:{start}.000 --> 00:{end}.000\n{text}" for n, (start, end, text) in enumerate(cues, 1)]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n"


HELLO = ("00:01", "00:03", "Rey: Hi, this is Rey from Acme.")
FINE = ("00:40", "00:42", "Willy: Fine.")
# "this call is being recorded" starts at character 18 of a 46-character turn said
# from 5 s to 9 s: 5 + 4 * 18 / 46 = 6.57 s into the call.
NOTIFIED = vtt(HELLO, ("00:05", "00:09", "Rey: Just so you know, this call is being recorded."), FINE)
LATE = vtt(HELLO, ("00:45", "00:49", "Rey: By the way, this call is being recorded."))  # after the 30 s window
NONE = vtt(("00:01", "00:03", "Rey: Hi, this is Rey."), ("00:04", "00:06", "Willy: Hello, what do you want?"))


@pytest.fixture
def enterprise(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    return org


@pytest.fixture
def strict_role(enterprise):
    return Role.objects.create(org=enterprise, name="Rep (EU)", delete_calls_without_notification=True)


@pytest.fixture
def crm(enterprise, salesforce):
    """The org's connected Salesforce: a call that is announced gets CRM deliveries."""
    return salesforce


def make_call(org, owner, n: int) -> DialerCall:
    """A dialer call as an import leaves it: engagement, prospect, stored recording."""
    e = Engagement.objects.create(org=org, kind="dialer_call", title=f"Call with Willy {n}", started_at=NOW,
                                  duration_seconds=300, owner=owner, source="outreach", external_id=f"T{n}")
    Participant.objects.create(org=org, engagement=e, name="Willy Wonka", email="willy@wonka.example")
    name = default_storage.save(f"dialers/{org.pk}/outreach/t{n}.mp3", ContentFile(b"ID3audio"))
    RecordingFile.objects.create(org=org, engagement=e, name=name, file_type="MP3", content_type="audio/mpeg",
                                 size=8, sha256="0" * 64)
    return DialerCall.objects.create(org=org, dialer="outreach", external_id=f"T{n}", engagement=e, started_at=NOW,
                                     media_name=name, media_status=MediaStatus.STORED)


def queue(*calls_and_transcripts: tuple[DialerCall, str]) -> None:
    """Hand calls to processing with the transcript their source gave ("" = none)."""
    for call, transcript in calls_and_transcripts:
        processing_queue(org=call.org, engagements=[call.engagement],
                         provider_transcripts={call.engagement_id: transcript} if transcript else None)


def deleted_ok(call: DialerCall, media: str, *, owner: str = "rey@acme.example") -> None:
    """``call`` was deleted by the gate: tombstone, media gone, audit without content."""
    call.refresh_from_db()
    assert call.engagement is None and call.deleted_at is not None and call.media_name == ""
    assert call.media_status == MediaStatus.NONE and call.compliance_checked_at is not None
    assert not Engagement.objects.filter(external_id=call.external_id, org=call.org).exists()
    assert not default_storage.exists(media) and not RecordingFile.objects.filter(name=media).exists()
    event = AuditEvent.objects.get(org=call.org, action="dialer_call.deleted_noncompliant")
    assert event.target == f"Outreach call {call.external_id}" and event.changes["owner"] == owner
    assert event.changes["role"] == "Rep (EU)" and event.changes["media_deleted"] is True
    assert event.changes["reason"] == ("No recording notification in the first 30 seconds (role “Rep (EU)” "
                                       "deletes calls without recording notification).")
    flat = str(event.changes) + event.target
    assert "Willy" not in flat and "recorded" not in flat.replace("recording notification", "")  # no content


def test_notification_in_the_window_keeps_the_call_and_announces_it_once(enterprise, strict_role, crm,
                                                                         crm_push_ready_calls):
    owner = UserFactory(org=enterprise, email="rey@acme.example", role=strict_role)
    call = make_call(enterprise, owner, 1)
    queue((call, NOTIFIED))
    assert crm_push_ready_calls == [] and call.compliance_checked_at is None  # nothing decided before processing

    assert process_queued() == {"ready": 1, "failed": 0, "retrying": 0}
    call.refresh_from_db()
    e = call.engagement
    row = EngagementProcessing.objects.get(engagement=e)
    # What the engagement page shows: the verdict, the phrase heard and when.
    assert e.recording_notification_detected is True
    assert (row.notification_phrase, row.notification_at_seconds) == ("this call is being recorded", 6.57)
    assert call.compliance_checked_at is not None and call.deleted_at is None
    assert default_storage.exists(call.media_name)
    assert crm_push_ready_calls == [e.pk]  # announced once
    assert Delivery.objects.filter(org=enterprise, engagement=e).exists()
    assert not AuditEvent.objects.filter(action="dialer_call.deleted_noncompliant").exists()
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0} and crm_push_ready_calls == [e.pk]


@pytest.mark.parametrize("transcript", [LATE, NONE], ids=["late", "none"])
def test_no_notification_in_the_window_deletes_the_call_before_anyone_hears_of_it(
        enterprise, strict_role, crm, crm_push_ready_calls, transcript):
    owner = UserFactory(org=enterprise, email="rey@acme.example", role=strict_role)
    call = make_call(enterprise, owner, 1)
    media, engagement_id = call.media_name, call.engagement_id
    queue((call, transcript))

    assert process_queued() == {"ready": 1, "failed": 0, "retrying": 0}
    deleted_ok(call, media)
    assert crm_push_ready_calls == []  # announced to no one
    assert not Delivery.objects.filter(org=enterprise).exists()  # no CRM object for a deleted call
    assert not Participant.objects.filter(name="Willy Wonka").exists()
    assert not EngagementProcessing.objects.filter(engagement_id=engagement_id).exists()  # nor its transcript


def test_an_unknown_verdict_keeps_the_call(enterprise, strict_role, crm, crm_push_ready_calls):
    """Processing failed (here: no transcript and the recording is not audio), so no
    one knows whether the notification was said: the call is kept and announced."""
    owner = UserFactory(org=enterprise, email="rey@acme.example", role=strict_role)
    call = make_call(enterprise, owner, 1)
    queue((call, ""))

    assert process_queued() == {"ready": 0, "failed": 1, "retrying": 0}
    call.refresh_from_db()
    row = EngagementProcessing.objects.get(engagement=call.engagement)
    assert row.last_error.startswith("Transcribing: The recording could not be decoded as audio: ")
    assert call.engagement.recording_notification_detected is None and row.notification_phrase == ""
    assert call.deleted_at is None and call.compliance_checked_at is None and default_storage.exists(call.media_name)
    assert crm_push_ready_calls == [call.engagement_id]
    assert Delivery.objects.filter(org=enterprise, engagement=call.engagement).exists()


def test_disabled_role_keeps_calls_without_notification(enterprise, crm, crm_push_ready_calls):
    owner = UserFactory(org=enterprise, email="rey@acme.example")  # Rep (AE/Other): setting off
    call = make_call(enterprise, owner, 1)
    queue((call, NONE))
    process_queued()
    call.refresh_from_db()
    assert call.engagement is not None and call.compliance_checked_at is not None and call.deleted_at is None
    assert call.engagement.recording_notification_detected is False
    assert call.engagement.processing.notification_phrase == ""
    assert call.engagement.processing.notification_at_seconds is None
    assert crm_push_ready_calls == [call.engagement_id]
    assert not AuditEvent.objects.filter(action="dialer_call.deleted_noncompliant").exists()


def test_standard_package_never_deletes(org, salesforce, crm_push_ready_calls):
    role = Role.objects.create(org=org, name="Strict", delete_calls_without_notification=True)
    call = make_call(org, UserFactory(org=org, role=role), 1)
    queue((call, NONE))
    process_queued()
    call.refresh_from_db()
    assert call.engagement is not None and call.deleted_at is None and default_storage.exists(call.media_name)
    assert call.engagement.recording_notification_detected is False  # heard, not acted on
    assert crm_push_ready_calls == [call.engagement_id]
    assert not AuditEvent.objects.filter(action="dialer_call.deleted_noncompliant").exists()


def test_phrases_and_window_are_configurable(enterprise, strict_role, crm, crm_push_ready_calls):
    ComplianceSettings.objects.create(org=enterprise, phrases=["Esta llamada se graba"], window_seconds=60)
    owner = UserFactory(org=enterprise, role=strict_role)
    kept = make_call(enterprise, owner, 1)
    gone = make_call(enterprise, owner, 2)
    queue((kept, vtt(("00:50", "00:52", "Ana: Esta llamada se graba."))),
          (gone, NOTIFIED))  # the English phrase is not in this org's list
    assert process_queued() == {"ready": 2, "failed": 0, "retrying": 0}
    kept.refresh_from_db(), gone.refresh_from_db()
    assert kept.engagement_id and gone.engagement_id is None and gone.deleted_at is not None
    assert (kept.engagement.processing.notification_phrase,
            kept.engagement.processing.notification_at_seconds) == ("esta llamada se graba", 50.0)
    assert crm_push_ready_calls == [kept.engagement_id]
    assert "first 60 seconds" in AuditEvent.objects.get(action="dialer_call.deleted_noncompliant").changes["reason"]


def test_each_org_is_judged_by_its_own_rules(enterprise, strict_role, crm, crm_push_ready_calls):
    """Two Enterprise orgs, the same call id and the same words: only the org whose
    phrases do not include them deletes its call; the other's is not touched."""
    globex = OrganizationFactory(name="Globex", slug="globex", email_domains=["globex.example"],
                                 package=Organization.Package.ENTERPRISE)
    ComplianceSettings.objects.create(org=globex, phrases=["esta llamada se graba"], window_seconds=30)
    globex_role = Role.objects.create(org=globex, name="Rep (EU)", delete_calls_without_notification=True)
    ours = make_call(enterprise, UserFactory(org=enterprise, email="rey@acme.example", role=strict_role), 1)
    theirs = make_call(globex, UserFactory(org=globex, email="rey@globex.example", role=globex_role), 1)
    media = theirs.media_name
    queue((ours, NOTIFIED), (theirs, NOTIFIED))

    assert process_queued() == {"ready": 2, "failed": 0, "retrying": 0}
    deleted_ok(theirs, media, owner="rey@globex.example")
    ours.refresh_from_db()
    assert ours.engagement is not None and ours.deleted_at is None and default_storage.exists(ours.media_name)
    assert ours.engagement.recording_notification_detected is True
    assert not AuditEvent.objects.filter(org=enterprise, action="dialer_call.deleted_noncompliant").exists()
    assert crm_push_ready_calls == [ours.engagement_id]


def test_a_deleted_call_is_not_imported_again(enterprise, strict_role, crm_push_ready_calls):
    owner = UserFactory(org=enterprise, email="rey@acme.example", role=strict_role)
    connection = Connection.objects.create(org=enterprise, provider="outreach", config={"crm_field": "X__c"})
    call = make_call(enterprise, owner, 1)
    queue((call, NONE))
    process_queued()
    call.refresh_from_db()
    assert call.deleted_at is not None

    class Again:
        def pages(self, *, since, until):
            yield [CallRecord(external_id="T1", started_at=NOW, owner_email="rey@acme.example", media_source="http://x")]

        def fetch_media(self, *a, **kw):  # pragma: no cover - never reached
            raise AssertionError

    result = services.dialer_calls_import(connection=connection, since=NOW - timedelta(hours=1), until=NOW,
                                          importer=Again())
    assert result.imported == 0 and result.already_imported == 1
    assert not Engagement.objects.filter(external_id="T1").exists()
    assert not EngagementProcessing.objects.exists() and process_queued() == {"ready": 0, "failed": 0, "retrying": 0}
    assert crm_push_ready_calls == []
