"""The demo organisation: made once, its recordings and calls run through the real
processing stage (sample calls shipped in console/samples/calls), then announced
ready like every source's."""

from io import StringIO

from django.core.management import call_command

from chorus.models import Engagement, Moment, Organization, Role, Team, User
from integrations.processing.models import EngagementProcessing, ProcessingStatus, TranscriptSegment
from testutils.processing import process_queued

LISTENED = (Engagement.Kind.RECORDING, Engagement.Kind.DIALER_CALL)


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_seed_demo_makes_a_demo_org_once(db, crm_push_ready_calls):
    out = run("seed_demo", "--engagements", "10")
    assert "Log in as admin: oscar.martinez@dundermifflin.com / " in out
    org = Organization.objects.get(slug="dunder-mifflin")
    engagements = Engagement.objects.for_org(org)
    assert set(engagements.values_list("kind", flat=True)) == set(Engagement.Kind.values)
    assert engagements.count() == 10
    used_roles = set(User.objects.for_org(org).values_list("role__name", flat=True))
    assert set(Role.BUILTIN_NAMES) <= used_roles
    assert Team.objects.for_org(org).count() >= 2
    admin = User.objects.get(email="oscar.martinez@dundermifflin.com")
    assert admin.is_org_admin and admin.check_password("chorus-demo-2026")

    # Emails and unrecorded meetings have nothing to listen to: ready at once.
    listened = engagements.filter(kind__in=LISTENED, recording_disabled=False)
    assert sorted(crm_push_ready_calls) == sorted(engagements.exclude(pk__in=listened).values_list("id", flat=True))
    process_queued()
    made = sorted(engagements.values_list("id", flat=True))
    assert sorted(crm_push_ready_calls) == made  # each engagement announced ready once

    rows = EngagementProcessing.objects.filter(engagement__in=listened)
    assert rows.count() == listened.count() == 6
    assert set(rows.values_list("status", flat=True)) == {ProcessingStatus.READY}
    sources = dict(rows.values_list("engagement__kind", "transcript_source"))
    assert sources == {Engagement.Kind.RECORDING: "seed", Engagement.Kind.DIALER_CALL: "pocketsphinx"}
    for e in listened:
        assert TranscriptSegment.objects.filter(engagement=e).exists()
        assert e.transcript
    recordings = listened.filter(kind=Engagement.Kind.RECORDING)
    # The samples' commitments and tracker phrases, found by the code, not seeded.
    assert all(e.next_steps for e in recordings)
    assert Moment.objects.filter(engagement__in=recordings).values("tracker").distinct().count() >= 4
    briefs = recordings.filter(duration_seconds__gte=600)
    assert briefs.exists() and all(e.summary and e.processing.brief_engine == "extractive" for e in briefs)

    run("seed_demo", "--engagements", "10")
    assert engagements.count() == 10  # idempotent
    assert sorted(crm_push_ready_calls) == made
