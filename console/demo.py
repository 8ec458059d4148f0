"""The demo organisation `make run` starts with: an admin, users in every role,
two teams, trackers and 50 engagements of every kind. Idempotent."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from chorus import services
from chorus.models import Engagement, Moment, Organization, Participant, Role, Tracker, User
from integrations.ready import engagements_ready

DEMO_SLUG = "dunder-mifflin"
DEMO_DOMAIN = "dundermifflin.com"
DEMO_ADMIN_EMAIL = f"oscar.martinez@{DEMO_DOMAIN}"
DEMO_PASSWORD = "chorus-demo-2026"

TRACKERS = ("Impact", "Competitor 1", "Pain", "Budget", "Need", "Metrics", "Background", "Use Case",
            "Timing", "Authority")
NEXT_STEPS = (
    "Sure, I'll send you the invite for Friday at 3pm. Anything else I could answer for you?",
    "There's a bunch of other security documentation as well, I'll shoot them over after the call",
    "Great question, let me ask my solutions engineer and i'll get back to you",
)
# (first, last, title, role, licence, manager's first name)
PEOPLE = (
    ("Oscar", "Martinez", "Sales Operations", "Admin", "listener", None),
    ("Jan", "Levinson", "VP Sales", "Enablement/Leadership", "listener", None),
    ("Michael", "Scott", "Regional Manager", "Manager (AE/Other)", "recorder", "Jan"),
    ("Dwight", "Schrute", "Assistant to the Regional Manager", "Rep (AE/Other)", "recorder", "Michael"),
    ("Jim", "Halpert", "Account Executive", "Rep (AE/Other)", "recorder", "Michael"),
    ("Phyllis", "Vance", "Account Executive", "Rep (AE/Other)", "recorder", "Michael"),
    ("Angela", "Martin", "SDR Manager", "Manager (SDR)", "recorder", "Jan"),
    ("Kelly", "Kapoor", "Sales Development Rep", "Rep (SDR)", "recorder", "Angela"),
    ("Ryan", "Howard", "Sales Development Rep", "Rep (SDR)", "recorder", "Angela"),
    ("Toby", "Flenderson", "Customer Success", "Customer Success", "listener", None),
)
PROSPECTS = (
    ("Willy Wonka", "CEO", "wonka.com", "Wonka Industries"),
    ("Mose Schrute", "Farm Manager", "schrutefarms.com", "Schrute Farms"),
    ("David Wallace", "CFO", "sabre.com", "Sabre"),
    ("Robert California", "CEO", "vance-refrigeration.com", "Vance Refrigeration"),
    ("Todd Packer", "Field Sales", "packer-sales.com", "Packer Sales"),
    ("Holly Flax", "HR Director", "nashua-paper.com", "Nashua Paper"),
)


@dataclass
class DemoResult:
    org: Organization
    admin: User
    created_engagements: int


@transaction.atomic
def seed_demo(*, engagements: int = 50, seed: int = 7) -> DemoResult:
    org = services.organization_create(slug=DEMO_SLUG, name="Dunder Mifflin", domains=[DEMO_DOMAIN],
                                       package=Organization.Package.ENTERPRISE)
    if not org.api_access:
        org.api_access = True
        org.save(update_fields=["api_access"])
    services.role_get_or_create(org=org, name="Customer Success")

    people: dict[str, User] = {}
    for first, last, title, role_name, licence, _manager in PEOPLE:
        role = Role.objects.for_org(org).get(name=role_name)
        user, _ = services.user_create_or_update(
            org=org, email=f"{first}.{last}@{DEMO_DOMAIN}".lower(), role=role, license_type=licence,
            first_name=first, last_name=last, title=title,
            password=DEMO_PASSWORD if role_name == "Admin" else None,
        )
        people[first] = user
    for first, *_rest, manager in PEOPLE:
        if manager and people[first].manager_id != people[manager].pk:
            services.user_set_manager(user=people[first], manager=people[manager])

    trackers = {}
    for name in TRACKERS:
        trackers[name], _ = Tracker.objects.get_or_create(org=org, name=name)

    created = 0
    if not Engagement.objects.for_org(org).filter(source="seed").exists():
        created = _seed_engagements(org=org, people=people, trackers=trackers, count=engagements, seed=seed)
    return DemoResult(org=org, admin=people["Oscar"], created_engagements=created)


def _seed_engagements(*, org, people, trackers, count, seed) -> int:
    rnd = random.Random(seed)
    reps = [u for u in people.values() if u.license_type == "recorder"]
    kinds = list(Engagement.Kind.values)
    now = timezone.now().replace(second=0, microsecond=0)
    engagements, participants, moments = [], [], []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        owner = rnd.choice(reps)
        prospect = rnd.choice(PROSPECTS)
        title = "" if i % 11 == 5 else f"{prospect[3]} and {owner.last_name} Connect"
        e = Engagement(
            org=org, kind=kind, title=title, owner=owner, source="seed", external_id=f"seed-{i + 1}",
            started_at=now - timedelta(hours=7 * i + rnd.randint(0, 6)),
            duration_seconds=0 if kind == Engagement.Kind.EMAIL else rnd.randint(8, 55) * 60,
            recording_url="" if kind in (Engagement.Kind.EMAIL, Engagement.Kind.UNRECORDED_MEETING)
            else f"https://chorus.example/meeting/{3810000 + i}",
            recording_disabled=(i % 17 == 3),
            recording_notification_detected=(kind == Engagement.Kind.DIALER_CALL and i % 9 != 0) or None,
            next_steps=rnd.sample(NEXT_STEPS, k=rnd.randint(0, 3)),
            summary="" if kind == Engagement.Kind.EMAIL
            else f"{prospect[0]} reviewed pricing and timing with {owner.first_name}.",
            transcript=f"{owner.first_name}: Thanks for joining.\n{prospect[0]}: Happy to be here.",
        )
        engagements.append((e, owner, prospect))
    Engagement.objects.bulk_create([e for e, _, _ in engagements])
    for e, owner, prospect in engagements:
        participants.append(Participant(org=org, engagement=e, name=owner.full_name, title=owner.title,
                                        email=owner.email, is_internal=True))
        first, last = prospect[0].lower().split(" ", 1)
        participants.append(Participant(org=org, engagement=e, name=prospect[0], title=prospect[1],
                                        email=f"{first}.{last.replace(' ', '')}@{prospect[2]}"))
        if e.kind != Engagement.Kind.EMAIL:
            for name in rnd.sample(TRACKERS, k=rnd.randint(1, 5)):
                moments.append(Moment(org=org, engagement=e, tracker=trackers[name],
                                      at_seconds=rnd.randint(30, max(60, e.duration_seconds)),
                                      text=f"…we talked about {name.lower()}…", speaker=prospect[0]))
    Participant.objects.bulk_create(participants)
    Moment.objects.bulk_create(moments)
    # Like every source: account matching, CRM Objects Creation and whatever else listens.
    engagements_ready(org=org, engagements=[e for e, _, _ in engagements])
    return len(engagements)
