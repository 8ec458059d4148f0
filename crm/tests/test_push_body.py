"""Golden tests: the pushed task's subject and comments, from the seed's example."""

from pathlib import Path

import pytest

from crm.push.body import ActivityContent, Attendee, activity_body, activity_subject, content_for
from testutils.factories import EngagementFactory, MomentFactory, ParticipantFactory, TrackerFactory

FIXTURES = Path(__file__).parent / "fixtures" / "push"
URL = "https://chorus.ai/meeting/3810048?call=CD2590C3E9CE4885ADE9C6D213C44870123"
ATTENDEES = [("Michael Scott", "Regional Manager"), ("Dwight Schrute", "Assistant to the Regional Manager"),
             ("Todd Packer", "Field Sales"), ("Fake Acme Employee", "Account Executive")]
TOPICS = ["Impact", "Competitor 1", "Pain", "Budget", "Need", "Metrics", "Background", "Use Case", "Timing",
          "Authority"]
NEXT_STEPS = [
    "Sure, I'll send you the invite for Friday at 3pm. Anything else I could answer for you?",
    "There's a bunch of other security documentation as well, I'll shoot them over after the call",
    "Great question, let me ask my solutions engineer and i'll get back to you",
]


def seed_example() -> ActivityContent:
    return ActivityContent(title="Wonka and Schrute Farms Connect", recording_url=URL,
                           attendees=[Attendee(n, t) for n, t in ATTENDEES], topics=TOPICS, next_steps=NEXT_STEPS)


@pytest.mark.parametrize("provider", ["salesforce", "dynamics"])
def test_plain_text_body_is_the_seed_example(provider):
    golden = (FIXTURES / "golden_task_body.txt").read_text()
    assert activity_body(seed_example(), provider=provider) == golden


def test_hubspot_body_is_the_seed_example_as_rich_text():
    golden = (FIXTURES / "golden_task_body_hubspot.html").read_text()
    assert activity_body(seed_example(), provider="hubspot") == golden


@pytest.mark.parametrize("provider", ["salesforce", "hubspot", "dynamics"])
def test_subject_naming_convention(provider):
    assert activity_subject(title="Wonka and Schrute Farms Connect", provider=provider) == \
        "Chorus - Wonka and Schrute Farms Connect"
    assert activity_subject(title="", provider=provider) == "Chorus - Unscheduled Meeting"
    assert activity_subject(title="   ", provider=provider) == "Chorus - Unscheduled Meeting"


def test_subject_fits_the_crm_field():
    assert len(activity_subject(title="x" * 400, provider="salesforce")) == 255
    assert len(activity_subject(title="x" * 400, provider="dynamics")) == 200
    assert activity_subject(title="x" * 400).endswith("…")


def test_blocks_with_nothing_to_say_are_left_out():
    body = activity_body(ActivityContent(title="", attendees=[Attendee("Pam Beesly")]))
    assert body == "ATTENDEES:\nPam Beesly"


def test_long_body_is_clipped_to_the_field_size():
    content = ActivityContent(title="t", next_steps=["word " * 1000] * 10)
    assert len(activity_body(content, provider="dynamics")) == 2000


@pytest.mark.django_db
def test_content_from_an_engagement_matches_the_golden_body(org):
    e = EngagementFactory(org=org, title="Wonka and Schrute Farms Connect", recording_url=URL,
                          next_steps=NEXT_STEPS)
    for name, title in ATTENDEES:
        ParticipantFactory(engagement=e, name=name, title=title)
    ParticipantFactory(engagement=e, name="Ignored Bot", is_ignored=True)
    # Trackers in the order first heard; a tracker heard twice is listed once.
    for at, topic in enumerate(TOPICS):
        MomentFactory(engagement=e, org=org, tracker=TrackerFactory(org=org, name=topic), at_seconds=10 + at * 10)
    MomentFactory(engagement=e, org=org, tracker=e.moments.get(at_seconds=30).tracker, at_seconds=500)
    golden = (FIXTURES / "golden_task_body.txt").read_text()
    assert activity_body(content_for(e)) == golden
