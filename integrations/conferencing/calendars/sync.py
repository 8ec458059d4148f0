"""Calendars as a whole, whatever their provider: connect (OAuth or an ICS feed),
disconnect, and the sync, claimed so two workers never sync one calendar at once,
queued every ``SYNC_EVERY`` and on demand.

Its own module because it is the one place that dispatches to the providers
(:mod:`.google`, :mod:`.microsoft`, :mod:`.ics_feed`); they never call each other.
"""

from __future__ import annotations

import logging
import secrets as pysecrets
from datetime import timedelta
from urllib.parse import urlencode

from django.db import transaction
from django.utils import timezone

from chorus.models import User
from integrations.conferencing.calendars import google, microsoft
from integrations.conferencing.calendars.base import CalendarError
from integrations.conferencing.calendars.ics_feed import ics_sync, ics_url_check
from integrations.conferencing.calendars.meetings import notetaker_sync
from integrations.conferencing.models import Calendar, CalendarEvent
from integrations.conferencing.notetaker import NotetakerClient

log = logging.getLogger(__name__)

SYNCERS = {
    Calendar.Provider.ICS: ics_sync,
    Calendar.Provider.GOOGLE: google.google_sync,
    Calendar.Provider.MICROSOFT: microsoft.microsoft_sync,
}
OAUTH = {Calendar.Provider.GOOGLE: google, Calendar.Provider.MICROSOFT: microsoft}


def calendar_sync(*, calendar: Calendar, client: NotetakerClient | None = None) -> Calendar:
    """One sync of one calendar. The conditional UPDATE is the claim: two workers
    never sync the same calendar at once."""
    if (
        not Calendar.objects.filter(pk=calendar.pk)
        .exclude(status=Calendar.Status.SYNCING)
        .update(status=Calendar.Status.SYNCING)
    ):
        return calendar
    calendar.refresh_from_db()
    try:
        SYNCERS[calendar.provider](calendar=calendar, client=client)
    except CalendarError as exc:
        calendar.status, calendar.last_error = Calendar.Status.FAILED, str(exc)
    except Exception:
        log.exception("Calendar %s sync failed", calendar.pk)
        calendar.status, calendar.last_error = (
            Calendar.Status.FAILED,
            "Unexpected error; Chorus support has the details.",
        )
    else:
        calendar.status, calendar.last_error = Calendar.Status.OK, ""
    calendar.last_synced_at = timezone.now()
    calendar.save(update_fields=["status", "last_error", "last_synced_at", "sync_state", "secrets"])
    return calendar



def calendar_connect_ics(*, user: User, url: str) -> Calendar:
    url = ics_url_check(url)
    calendar, _ = Calendar.objects.update_or_create(
        user=user,
        provider=Calendar.Provider.ICS,
        defaults={
            "org": user.org,
            "secrets": {"url": url},
            "status": Calendar.Status.QUEUED,
            "last_error": "",
            "sync_state": {},
        },
    )
    calendar_sync_queue(calendar=calendar)
    return calendar



def calendar_oauth_begin(*, user: User, provider: str, redirect_uri: str) -> tuple[str, dict]:
    """Where to send the user to consent, and what to keep in their session until
    the callback. When the provider's sign-in cannot even be started (Microsoft's
    metadata unreachable), the user goes straight back to the callback with OAuth's
    own ``temporarily_unavailable`` error, which becomes a sentence there."""
    state = pysecrets.token_urlsafe(24)
    try:
        url, extra = OAUTH[provider].authorize_url(user=user, state=state, redirect_uri=redirect_uri)
    except CalendarError:
        log.warning("Calendar sign-in could not start for %s", provider, exc_info=True)
        url, extra = f"{redirect_uri}?" + urlencode({"error": "temporarily_unavailable", "state": state}), {}
    return url, {**extra, "state": state, "user": user.pk, "provider": provider}


def calendar_oauth_complete(
    *, user: User, provider: str, pending: dict | None, params: dict[str, str], redirect_uri: str
) -> Calendar:
    if (
        not pending
        or pending.get("provider") != provider
        or pending.get("user") != user.pk
        or not pysecrets.compare_digest(str(pending.get("state")), str(params.get("state", "")))
    ):
        raise CalendarError("The calendar connection could not be verified. Click Connect to try again.")
    if params.get("error") == "temporarily_unavailable":
        raise CalendarError("The calendar service could not be reached. Try again in a minute.")
    if params.get("error") or not params.get("code"):
        raise CalendarError("The calendar connection was cancelled; nothing was changed.")
    secrets = OAUTH[provider].exchange_code(pending=pending, params=params, redirect_uri=redirect_uri)
    calendar, _ = Calendar.objects.update_or_create(
        user=user,
        provider=provider,
        defaults={
            "org": user.org,
            "secrets": secrets,
            "status": Calendar.Status.QUEUED,
            "last_error": "",
            "sync_state": {},
            "account_email": user.email,
        },
    )
    calendar_sync_queue(calendar=calendar)
    return calendar


def calendar_disconnect(*, calendar: Calendar, client: NotetakerClient | None = None) -> None:
    """Cancel the bots still scheduled from this calendar, then forget it."""
    client = client or NotetakerClient()
    for event in CalendarEvent.objects.filter(calendar=calendar).exclude(notetaker_bot_id=""):
        event.record = False
        notetaker_sync(event=event, client=client)
    calendar.delete()


SYNC_EVERY = timedelta(minutes=10)


CALENDAR_SYNC_JOB = "calendar_sync"


def calendars_sync_due() -> int:
    """The calendar sync's tick: one task per due calendar (integrations/scheduler.py)."""
    from integrations.scheduler import scheduler_tick

    return scheduler_tick(CALENDAR_SYNC_JOB)["queued"]


def calendar_unit(calendar: Calendar):
    from integrations.scheduler import Unit

    return Unit.of_row("calendar", calendar.pk, calendar.org_id, calendar.provider)


def calendar_sync_due_units(now):
    """Every calendar not synced for SYNC_EVERY. One still "syncing" is listed too: the
    tick skips it while its run holds the lease, and takes over a killed worker's once
    the lease passes."""
    from django.db.models import Q

    from integrations.scheduler import Unit

    due = (Calendar.objects.filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=now - SYNC_EVERY))
           .values_list("pk", "org_id", "provider"))
    return [Unit.of_row("calendar", pk, org_id, provider) for pk, org_id, provider in due]


def calendar_sync_unit_run(unit) -> dict:
    """One calendar's sync under its lease. Every sync holds it (connecting and "Sync
    now" too: ``calendar_sync_task``), so a status still "syncing" is the leftover of a
    killed worker: released now, then claimed again."""
    Calendar.objects.filter(pk=unit.pk, status=Calendar.Status.SYNCING).update(status=Calendar.Status.QUEUED)
    calendar = Calendar.objects.filter(pk=unit.pk).first()
    return {"status": calendar_sync(calendar=calendar).status} if calendar else {"skipped": "calendar gone"}


def calendar_sync_queue(*, calendar: Calendar) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("integrations.conferencing.tasks.calendar_sync_task", calendar.pk, group="calendar-sync")
    )
