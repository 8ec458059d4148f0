"""The one "these engagements are ready" step.

Every source that makes engagements (Zoom recordings, dialer imports, Unrecorded
Meetings from calendars, the demo) calls :func:`engagements_ready` once per batch,
inside the transaction that wrote the rows it announces. Whatever must happen to a
ready engagement — account matching and CRM Objects Creation today; Slack briefs,
Gainsight activities and Zapier triggers next — is a *listener* registered here by
its app (``AppConfig.ready``), so no source knows who listens and no listener is
wired into each source.

Before the listeners, *gates* may withhold engagements: compliance deletes a call
with no recording notification, and a deleted call is announced to no one. A gate
returns the engagements that go on.

Listeners run in registration ``order`` (lower first: matching before the CRM push
that reads its result), synchronously, in the caller's transaction: what they write
(outbox deliveries) commits or rolls back with the engagements. Slow work belongs in
the outbox or a queued task, never in a listener.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from chorus.models import Engagement, Organization

log = logging.getLogger(__name__)

Listener = Callable[..., None]  # listener(*, org, engagements: list[Engagement]) -> None


@dataclass(frozen=True)
class ReadyListener:
    name: str
    func: Listener
    order: int = 100


LISTENERS: dict[str, ReadyListener] = {}
GATES: dict[str, ReadyListener] = {}


def register_ready_listener(name: str, func: Listener, *, order: int = 100) -> None:
    """Register (or replace, by name) what runs when engagements become ready."""
    LISTENERS[name] = ReadyListener(name=name, func=func, order=order)


def register_ready_gate(name: str, func: Callable[..., list[Engagement]], *, order: int = 100) -> None:
    """Register (or replace, by name) a gate: ``func(*, org, engagements)`` returns
    the engagements that are announced; the others it has dealt with (deleted)."""
    GATES[name] = ReadyListener(name=name, func=func, order=order)


def ready_listeners() -> list[ReadyListener]:
    return sorted(LISTENERS.values(), key=lambda entry: (entry.order, entry.name))


def engagements_ready(*, org: Organization, engagements: Iterable[Engagement]) -> None:
    """Announce engagements of one organisation to every listener, in one batch.

    Runs inside the caller's transaction (opened here when there is none), so the
    listeners' rows are written with the engagements or not at all. An engagement
    of another organisation is a programming error and refused before anything runs.
    """
    engagements = list(engagements)
    if not engagements:
        return
    if any(e.org_id != org.id for e in engagements):
        raise ValueError("every engagement must belong to the organisation announced")
    if transaction.get_connection().in_atomic_block:
        _run(org, engagements)
    else:
        with transaction.atomic():
            _run(org, engagements)


def _run(org: Organization, engagements: list[Engagement]) -> None:
    for gate in sorted(GATES.values(), key=lambda entry: (entry.order, entry.name)):
        engagements = list(gate.func(org=org, engagements=engagements))
        if not engagements:
            return
    for entry in ready_listeners():
        entry.func(org=org, engagements=engagements)
