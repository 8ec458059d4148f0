"""Mailboxes as a whole: one per Google / Microsoft 365 calendar, imported every
``SYNC_EVERY`` (like calendars), claimed so two workers never import one mailbox
at once, waiting out a ``Retry-After``, and a connection made before emails were
imported is told to reconnect — without touching the calendar's own sync."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from integrations.conferencing.models import Calendar
from integrations.mail import gmail, graph
from integrations.mail.importer import MailError, RateLimited, Reconnect
from integrations.mail.models import Mailbox

log = logging.getLogger(__name__)

IMPORTERS = {Calendar.Provider.GOOGLE: gmail.gmail_import, Calendar.Provider.MICROSOFT: graph.graph_import}
SYNC_EVERY = timedelta(minutes=10)
UNEXPECTED = "Unexpected error; Chorus support has the details."


def mailbox_sync(*, mailbox: Mailbox) -> Mailbox:
    """One import round of one mailbox. The conditional UPDATE is the claim."""
    now = timezone.now()
    claimed = (Mailbox.objects.filter(pk=mailbox.pk).exclude(status=Mailbox.Status.SYNCING)
               .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
               .update(status=Mailbox.Status.SYNCING, last_synced_at=now))
    if not claimed:
        return mailbox
    mailbox = Mailbox.objects.select_related("org", "calendar__user").get(pk=mailbox.pk)
    mailbox.next_attempt_at = None
    try:
        IMPORTERS[mailbox.calendar.provider](mailbox=mailbox)
    except RateLimited as exc:
        mailbox.status, mailbox.last_error = Mailbox.Status.WAITING, ""
        mailbox.next_attempt_at = timezone.now() + timedelta(seconds=exc.seconds)
        log.info("Mailbox %s rate limited; next try in %.0fs", mailbox.pk, exc.seconds)
    except Reconnect as exc:
        mailbox.status, mailbox.last_error = Mailbox.Status.RECONNECT, str(exc)
    except MailError as exc:
        mailbox.status, mailbox.last_error = Mailbox.Status.FAILED, str(exc)
    except Exception:
        log.exception("Mailbox %s import failed", mailbox.pk)
        mailbox.status, mailbox.last_error = Mailbox.Status.FAILED, UNEXPECTED
    else:
        mailbox.status, mailbox.last_error = Mailbox.Status.OK, ""
    mailbox.last_synced_at = timezone.now()
    mailbox.save(update_fields=["status", "last_error", "last_synced_at", "next_attempt_at"])
    return mailbox


MAILBOX_SYNC_JOB = "mailbox_sync"


def mailboxes_sync_due(*, now=None) -> int:
    """The mail import's tick: one task per due mailbox (integrations/scheduler.py)."""
    from integrations.scheduler import scheduler_tick

    return scheduler_tick(MAILBOX_SYNC_JOB, now=now)["queued"]


def mailbox_due_units(now):
    """Make the mailbox of every OAuth calendar that has none, and list the due ones.
    One still "syncing" is listed too: the tick skips it while its run holds the lease,
    and takes over a killed worker's once the lease passes."""
    from integrations.scheduler import Unit

    have = Mailbox.objects.values_list("calendar_id", flat=True)
    Mailbox.objects.bulk_create(
        [Mailbox(org_id=org_id, calendar_id=pk) for pk, org_id in
         Calendar.objects.filter(provider__in=list(IMPORTERS)).exclude(pk__in=have).values_list("pk", "org_id")],
        ignore_conflicts=True)
    due = list(Mailbox.objects.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
               .filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=now - SYNC_EVERY)
                       | Q(status=Mailbox.Status.WAITING))
               .values_list("pk", "org_id", "calendar__provider"))
    return [Unit.of_row("mailbox", pk, org_id, provider) for pk, org_id, provider in due]


def mailbox_unit_run(unit) -> dict:
    """One mailbox's import round under its lease. Every round holds it, so a status
    still "syncing" is the leftover of a killed worker: released now, then claimed again."""
    Mailbox.objects.filter(pk=unit.pk, status=Mailbox.Status.SYNCING).update(status=Mailbox.Status.QUEUED)
    mailbox = Mailbox.objects.filter(pk=unit.pk).select_related("calendar").first()
    return {"status": mailbox_sync(mailbox=mailbox).status} if mailbox else {"skipped": "mailbox gone"}
