"""Every row and column of CRM Objects Creation, and every exclusion rule, over the
wire to HubSpot and Dataverse (Salesforce has the same in test_push_salesforce.py):
the admin's matrix decides which objects the CRM's local server ends up holding."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import Engagement, Tracker
from crm.push.clients import PushHttp
from crm.push.models import CELLS
from crm.push.registry import register
from crm.push.services import crm_objects_settings_get, engagement_push_prepare
from integrations.models import Connection, Delivery
from testutils import crm_fakes as testing
from testutils.factories import EngagementFactory, MomentFactory, ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db
OPP, ACCOUNT = "6f0e0000-0000-0000-0000-0000000000a1", "6f0e0000-0000-0000-0000-0000000000b1"

CRMS = {
    "hubspot": {
        "fake": testing.FakeHubSpot, "path": r"/crm.*",
        "ids": {"crm_account_id": "5001", "crm_opportunity_id": "9001"},
        # Connected: the Chorus properties and custom objects set up (both sides).
        "config": lambda url: {"crm_org_id": "123", **testing.FakeHubSpot().set_up()}, "owner": "77",
        "rows": {
            "task": {"tasks": 1},
            "tracker": {"deals.updates": 1},
            "custom_object": {"chorus_engagement": 1, "chorus_moment": 1, "contacts": 1},
            "contact": {"contacts": 1},
            "account": {"companies": 1},
            "transcript": {"notes": 1},
        },
        "task": "tasks",
        "subject": lambda rec: rec["properties"]["hs_task_subject"],
    },
    "dynamics": {
        "fake": testing.FakeDataverse, "path": r"/api/data/.*", "ids": {"crm_account_id": ACCOUNT,
                                                                         "crm_opportunity_id": OPP},
        "config": lambda url: {"org_url": url}, "owner": "6f0e0000-0000-0000-0000-000000000001",
        "rows": {
            "task": {"tasks": 1},
            "tracker": {"opportunities": 1},
            "custom_object": {"chorus_engagements": 1, "chorus_moments": 1, "contacts": 1},
            "contact": {"contacts": 1},
            "account": {"accounts": 1},
            "transcript": {"annotations": 1},
        },
        "task": "tasks",
        "subject": lambda rec: rec["subject"],
    },
}
LINKS = {"associations"}  # HubSpot's v4 association records come with the objects they link


@pytest.fixture(autouse=True)
def _push(settings, monkeypatch):
    register()
    settings.OUTBOX_MAX_ATTEMPTS = 12
    monkeypatch.setattr(PushHttp, "timeout", (3, 10))


@pytest.fixture(params=sorted(CRMS))
def crm(request, org, crm_server, caplog):
    caplog.set_level(logging.WARNING, logger="werkzeug")
    spec = CRMS[request.param]
    fake = spec["fake"]()
    if hasattr(fake, "set_up"):
        fake.set_up()
    testing.serve(crm_server, fake, spec["path"])
    Connection.objects.create(org=org, provider=request.param, status="ok",
                              config=spec["config"](crm_server.url_for("").rstrip("/")),
                              secrets={"access_token": "token"})
    rep = UserFactory(org=org, email="rep@acme.example", first_name="Rey", last_name="Rep",
                      external_ids={request.param: spec["owner"]})
    return {**spec, "name": request.param, "fake": fake, "rep": rep}


def meeting(org, crm, **kw):
    defaults = {"title": "Wonka and Schrute Farms Connect", "recording_url": "https://chorus.ai/meeting/1",
                "next_steps": ["Send the invite"], "duration_seconds": 1800, "transcript": "Willy: hello",
                "started_at": timezone.now().replace(microsecond=0) - timedelta(hours=1), **crm["ids"]}
    e = EngagementFactory(org=org, owner=crm["rep"], **{**defaults, **kw})
    ParticipantFactory(engagement=e, name="Rey Rep", email="rep@acme.example", is_internal=True)
    ParticipantFactory(engagement=e, name="Willy Wonka", title="CEO", email="willy@wonka.example")
    MomentFactory(engagement=e, org=org, tracker=Tracker.objects.get_or_create(org=org, name="Budget")[0],
                  at_seconds=5, text="What is the budget?", speaker="Willy Wonka")
    return e


def only(org, *cells, **flags):
    row = crm_objects_settings_get(org=org)
    for name in CELLS:
        setattr(row, name, name in cells)
    for name, value in flags.items():
        setattr(row, name, value)
    row.save()


def drain():
    testing.drain(rounds=20)
    assert not Delivery.objects.exclude(status="sent").values_list("kind", "last_error").exists()


def stored(fake) -> dict[str, int]:
    return {k: len(v) for k, v in fake.records.items() if v and k not in LINKS}


@pytest.mark.parametrize("row", ["task", "tracker", "custom_object", "contact", "account", "transcript"])
def test_each_row_of_the_matrix_for_recordings(org, crm, row):
    only(org, f"{row}_recording", contacts_for_moments=True)
    extra = {"crm_account_id": "", "crm_opportunity_id": ""} if row == "account" else {}
    engagement_push_prepare(engagement=meeting(org, crm, **extra))
    drain()
    assert stored(crm["fake"]) == crm["rows"][row]


@pytest.mark.parametrize("row", ["task", "tracker", "custom_object", "contact", "account"])
def test_the_email_column_pushes_emails_only(org, crm, row):
    only(org, f"{row}_email", contacts_for_moments=True)
    extra = {"crm_account_id": "", "crm_opportunity_id": ""} if row == "account" else {}
    engagement_push_prepare(engagement=meeting(org, crm, **extra))  # a recording: not for this column
    drain()
    assert stored(crm["fake"]) == {}
    engagement_push_prepare(engagement=meeting(org, crm, kind=Engagement.Kind.EMAIL, recording_url="", **extra))
    drain()
    assert stored(crm["fake"]) == crm["rows"][row]


def test_unrecorded_meetings_and_the_three_exclusions(org, crm):
    """Seed: recording turned off, only internal or ignored participants, a
    block-listed participant — none pushed; the plain one is, as a task."""
    only(org, "task_unrecorded")
    kind = Engagement.Kind.UNRECORDED_MEETING
    pushed = meeting(org, crm, kind=kind, recording_url="", title="Plain")
    off = meeting(org, crm, kind=kind, recording_url="", recording_disabled=True)
    blocked = meeting(org, crm, kind=kind, recording_url="")
    ParticipantFactory(engagement=blocked, name="B", email="b@blocked.example", is_blocklisted=True)
    internal = meeting(org, crm, kind=kind, recording_url="")
    internal.participants.filter(is_internal=False).update(is_ignored=True)
    recorded = meeting(org, crm)  # the Recording column is all off here
    for e in (pushed, off, blocked, internal, recorded):
        engagement_push_prepare(engagement=e)
    drain()
    assert stored(crm["fake"]) == {crm["task"]: 1}
    assert crm["subject"](crm["fake"].records[crm["task"]][0]) == "Chorus - Plain"
