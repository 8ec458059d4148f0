import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from chorus import services
from chorus.models import Organization
from crm.models import AccountMatch, CrmAccount, CrmOpportunity
from integrations.processing.models import EngagementProcessing, ProcessingStatus, TranscriptSegment
from testutils.factories import (
    EngagementFactory,
    MomentFactory,
    OrganizationFactory,
    ParticipantFactory,
    TrackerFactory,
    UserFactory,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()  # throttle counts live in the (process-wide) default cache
    yield
    cache.clear()


def make_api_org(slug: str) -> Organization:
    return OrganizationFactory(name=slug.title(), slug=slug, email_domains=[f"{slug}.example"],
                               package=Organization.Package.ENTERPRISE, api_access=True)


def make_token(user) -> str:
    return services.api_token_create(user=user, name="Script")[1]


def auth(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def full_engagement(org, *, owner, started_at=T0, title="Discovery call"):
    """An engagement with everything the detail shows: participants, moments,
    next steps, a brief, transcript segments, processing and an account match."""
    engagement = EngagementFactory(
        org=org, owner=owner, started_at=started_at, title=title, transcript="Ann: Budget is fine.",
        next_steps=[{"text": "Send the proposal", "speaker": "Ann", "at_seconds": 12.5}, "Book a demo"],
        summary="They have budget.", action_items=[{"text": "Send pricing", "speaker": "Bob"}],
        recording_notification_detected=True,
    )
    ParticipantFactory(engagement=engagement, name="Ann Prospect", email="ann@customer.example")
    ParticipantFactory(engagement=engagement, name="Bob Seller", email=f"bob@{org.slug}.example", is_internal=True)
    tracker = TrackerFactory(org=org, name=f"Budget {engagement.pk}")
    MomentFactory(engagement=engagement, org=org, tracker=tracker, at_seconds=3, text="Budget is fine", speaker="Ann")
    MomentFactory(engagement=engagement, org=org, tracker=tracker, at_seconds=9, text="budget", speaker="Bob")
    for i in range(2):
        TranscriptSegment.objects.create(org=org, engagement=engagement, position=i, speaker="Ann",
                                         start_seconds=i * 2.0, end_seconds=i * 2.0 + 1.5, text=f"Part {i}")
    EngagementProcessing.objects.create(org=org, engagement=engagement, status=ProcessingStatus.READY,
                                        brief_engine="extractive")
    account = CrmAccount.objects.create(org=org, provider="salesforce", remote_id=f"001{engagement.pk}",
                                        name=f"Customer {engagement.pk}")
    opportunity = CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id=f"006{engagement.pk}",
                                                account=account, name="Big deal", amount="1200.50")
    AccountMatch.objects.create(org=org, engagement=engagement, account=account, opportunity=opportunity,
                                rule=AccountMatch.Rule.DOMAIN)
    return engagement


@pytest.fixture
def acme(db):
    org = make_api_org("acme")
    user = UserFactory(org=org, email="rep@acme.example", first_name="Rey", last_name="Rep")
    return {"org": org, "user": user, "token": make_token(user)}


@pytest.fixture
def globex(db):
    org = make_api_org("globex")
    user = UserFactory(org=org, email="rep@globex.example")
    return {"org": org, "user": user, "token": make_token(user)}


@pytest.fixture
def now():
    return timezone.now()
