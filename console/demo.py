"""The demo organisation `make run` starts with: an admin, users in every role,
two teams, the default trackers and 50 engagements of every kind, whose recordings
and calls go through processing (the sample calls in ``samples/calls``). Idempotent."""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from chorus import services
from chorus.models import Engagement, Organization, Participant, Role, User
from integrations.processing.services import processing_queue
from integrations.storage.models import RecordingFile
from integrations.storage.services import recording_store

DEMO_SLUG = "dunder-mifflin"
DEMO_DOMAIN = "dundermifflin.com"
DEMO_ADMIN_EMAIL = f"oscar.martinez@{DEMO_DOMAIN}"
DEMO_PASSWORD = "chorus-demo-2026"
SAMPLES = Path(__file__).resolve().parent / "samples" / "calls"

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

    created = 0
    if not Engagement.objects.for_org(org).filter(source="seed").exists():
        created = _seed_engagements(org=org, people=people, count=engagements, seed=seed)
    return DemoResult(org=org, admin=people["Oscar"], created_engagements=created)


def _sample_calls() -> list[tuple[Path, str]]:
    """The sample calls shipped with the demo: audio and Zoom-style WebVTT transcript."""
    return [(audio, audio.with_suffix(".vtt").read_text()) for audio in sorted(SAMPLES.glob("*.ogg"))]


def _seed_engagements(*, org, people, count, seed) -> int:
    """Engagements of every kind; the recordings and calls carry a real sample call,
    so their transcripts, Moments, next steps, verdicts and briefs are made by the
    processing stage, like any source's: recordings come with their provider
    transcript (as Zoom's do), dialer calls are transcribed by the speech-to-text
    engine."""
    rnd = random.Random(seed)
    reps = [u for u in people.values() if u.license_type == "recorder"]
    kinds = list(Engagement.Kind.values)
    samples = _sample_calls()
    now = timezone.now().replace(second=0, microsecond=0)
    engagements, participants = [], []
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
        )
        engagements.append((e, owner, prospect))
    Engagement.objects.bulk_create([e for e, _, _ in engagements])
    transcripts = {}
    for i, (e, owner, prospect) in enumerate(engagements):
        participants.append(Participant(org=org, engagement=e, name=owner.full_name, title=owner.title,
                                        email=owner.email, is_internal=True))
        first, last = prospect[0].lower().split(" ", 1)
        participants.append(Participant(org=org, engagement=e, name=prospect[0], title=prospect[1],
                                        email=f"{first}.{last.replace(' ', '')}@{prospect[2]}"))
        if e.kind in (Engagement.Kind.RECORDING, Engagement.Kind.DIALER_CALL) and not e.recording_disabled:
            audio, vtt = samples[i % len(samples)]
            _store_sample(org=org, engagement=e, audio=audio)
            if e.kind == Engagement.Kind.RECORDING:
                transcripts[e.pk] = vtt
    Participant.objects.bulk_create(participants)
    # Like every source: processing, then account matching, CRM Objects Creation and
    # whatever else listens.
    processing_queue(org=org, engagements=[e for e, _, _ in engagements], provider_transcripts=transcripts)
    return len(engagements)


def _store_sample(*, org: Organization, engagement: Engagement, audio: Path) -> None:
    data = audio.read_bytes()
    bucket, saved = recording_store(org=org, name=f"recordings/demo/{engagement.external_id}/{audio.name}",
                                    fileobj=io.BytesIO(data))
    RecordingFile.objects.create(org=org, engagement=engagement, bucket=bucket, name=saved, file_type="OGG",
                                 content_type="audio/ogg", size=len(data), sha256=hashlib.sha256(data).hexdigest())
