"""Trackers: the words and topics Chorus listens for, per organisation (name + phrases).

New organisations get the Chorus defaults (:data:`DEFAULT_TRACKERS`); admins edit them
on Settings > Trackers. The processing step reads an organisation's trackers when it
processes an engagement, so an edit applies to engagements processed from then on —
Moments already found stay as they were. Deleting a tracker deletes its Moments
(``Moment.tracker`` cascades)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

if TYPE_CHECKING:
    from chorus.models import Organization, Tracker, User

# This module reaches the models through ``org.trackers`` and imports no model at the
# top: the processing code reads DEFAULT_TRACKERS without Django set up, and
# chorus.services imports this module (a new organisation gets the defaults).

# The Chorus default trackers, seeded for new organisations; admins edit them.
DEFAULT_TRACKERS: dict[str, tuple[str, ...]] = {
    "Pricing": ("price", "pricing", "cost", "quote", "discount", "per seat", "per user", "license fee",
                "list price", "price point", "how much", "rate card", "subscription fee"),
    "Budget": ("budget", "budgeted", "funding", "allocated", "spend", "fiscal year", "set aside",
               "purchase order", "afford"),
    "Competitors": ("competitor", "competition", "alternative", "other vendor",
                    "evaluating other", "compared to", "versus", "switching from", "incumbent"),
    "Next Steps": ("next step", "follow up", "follow-up", "action item", "send over", "get back to you",
                   "schedule a call", "set up a meeting", "circle back", "touch base", "calendar invite"),
    "Timing": ("timeline", "timeframe", "deadline", "go live", "by the end of", "this quarter", "next quarter",
               "end of quarter", "end of year", "by when", "kick off", "start date", "renewal date"),
    # Not "problem" or "issue" alone: "no problem" is said on every call.
    "Pain": ("pain", "pain point", "challenge", "struggle", "struggling", "frustrating", "frustration",
             "bottleneck", "biggest problem", "the problem is", "manual process", "takes too long", "losing deals"),
    "Authority": ("decision maker", "sign off", "signs off", "approve", "approval", "final say",
                  "stakeholder", "procurement", "legal review", "my boss", "the board", "executive sponsor"),
    "Need": ("need", "requirement", "must have", "looking for", "priority", "we want", "nice to have",
             "critical for us", "have to have"),
    "Metrics": ("metric", "kpi", "roi", "return on investment", "conversion rate", "win rate", "quota",
                "pipeline", "ramp time", "churn", "revenue", "percent"),
    "Use Case": ("use case", "workflow", "use it for", "scenario", "integrate with", "integration",
                 "onboarding", "coaching", "forecasting", "call review"),
}

NAME_MAX = 120
PHRASES_MAX = 100
PHRASE_MAX = 100


def phrases_from_text(text: str) -> list[str]:
    """What an admin typed: one phrase a line, or several separated by commas."""
    return [part for line in (text or "").splitlines() for part in line.split(",")]


def tracker_clean(*, org: Organization, name: str, phrases: Iterable[str], tracker: Tracker | None = None,
                  ) -> tuple[str, list[str]]:
    """The name and phrases as they are stored: whitespace collapsed, empty and repeated
    phrases (ignoring case) dropped. Raises ``ValidationError`` with ``name`` and
    ``phrases`` errors: a name is required, at most 120 characters and unique in the
    organisation ignoring case; 1–100 phrases of at most 100 characters, each with a
    letter or digit (a phrase of punctuation matches nothing)."""
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = ["Enter a name for the tracker."]
    elif len(name) > NAME_MAX:
        errors["name"] = [f"Keep the name to {NAME_MAX} characters (it has {len(name)})."]
    else:
        taken = org.trackers.filter(name__iexact=name)
        if tracker is not None:
            taken = taken.exclude(pk=tracker.pk)
        if taken.exists():
            errors["name"] = [f"A tracker named “{name}” already exists."]

    cleaned: list[str] = []
    seen: set[str] = set()
    problems: list[str] = []
    for raw in phrases:
        phrase = " ".join(str(raw).split())
        if not phrase or phrase.casefold() in seen:
            continue
        seen.add(phrase.casefold())
        if len(phrase) > PHRASE_MAX:
            problems.append(f"“{phrase[:30]}…” is longer than {PHRASE_MAX} characters.")
        elif not re.search(r"\w", phrase):
            problems.append(f"“{phrase}” has no letters or digits to listen for.")
        cleaned.append(phrase)
    if problems:
        errors["phrases"] = problems
    elif not cleaned:
        errors["phrases"] = ["Enter at least one word or phrase to listen for."]
    elif len(cleaned) > PHRASES_MAX:
        errors["phrases"] = [f"A tracker listens for at most {PHRASES_MAX} phrases (this one has {len(cleaned)})."]
    if errors:
        raise ValidationError(errors)
    return name, cleaned


def _taken(name: str) -> ValidationError:
    return ValidationError({"name": [f"A tracker named “{name}” already exists."]})


def _audit(**fields: Any) -> None:
    from chorus.services import audit_record  # imports this module: see the top

    audit_record(**fields)


def tracker_create(*, org: Organization, actor: User | None, name: str, phrases: Iterable[str]) -> Tracker:
    name, cleaned = tracker_clean(org=org, name=name, phrases=phrases)
    try:
        with transaction.atomic():
            tracker = org.trackers.create(name=name, keywords=cleaned)
            _audit(org=org, actor=actor, action="tracker.created", target=name,
                         changes={"phrases": ["", ", ".join(cleaned)]})
    except IntegrityError:  # created by someone else a moment ago
        raise _taken(name) from None
    return tracker


def tracker_update(*, tracker: Tracker, actor: User | None, name: str, phrases: Iterable[str]) -> Tracker:
    """Rename a tracker or change what it listens for; applies to engagements processed
    from now on (Moments already found keep their tracker)."""
    name, cleaned = tracker_clean(org=tracker.org, name=name, phrases=phrases, tracker=tracker)
    changes: dict[str, list[str]] = {}
    if name != tracker.name:
        changes["name"] = [tracker.name, name]
    if cleaned != list(tracker.keywords):
        changes["phrases"] = [", ".join(tracker.keywords), ", ".join(cleaned)]
    if not changes:
        return tracker
    tracker.name, tracker.keywords = name, cleaned
    try:
        with transaction.atomic():
            tracker.save(update_fields=["name", "keywords"])
            _audit(org=tracker.org, actor=actor, action="tracker.changed", target=name, changes=changes)
    except IntegrityError:
        raise _taken(name) from None
    return tracker


def tracker_delete(*, tracker: Tracker, actor: User | None) -> int:
    """Delete a tracker and, with it, every Moment it found (the engagement pages and
    CRM pushes made from then on no longer show it). Returns how many Moments went."""
    with transaction.atomic():
        moments = tracker.moments.count()
        _audit(org=tracker.org, actor=actor, action="tracker.deleted", target=tracker.name,
                     changes={"moments": [moments, 0]} if moments else {})
        tracker.delete()
    return moments


def trackers_seed_defaults(*, org: Organization, actor: User | None = None) -> list[str]:
    """Create the default trackers the organisation lacks (by name, ignoring case) and
    return their names. Idempotent, and never touches an existing tracker: an admin's
    edits to a default stay; a deleted default comes back only when this runs again
    (a new organisation, or "Restore default trackers")."""
    have = {n.casefold() for n in org.trackers.values_list("name", flat=True)}
    missing = [org.trackers.model(org=org, name=name, keywords=list(phrases))
               for name, phrases in DEFAULT_TRACKERS.items() if name.casefold() not in have]
    if not missing:
        return []
    with transaction.atomic():
        org.trackers.bulk_create(missing, ignore_conflicts=True)
        if actor is not None:
            _audit(org=org, actor=actor, action="trackers.defaults_restored",
                         target=", ".join(t.name for t in missing))
    return [t.name for t in missing]
