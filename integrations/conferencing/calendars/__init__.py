"""Calendars: connect (Google / Microsoft 365 OAuth, or an ICS feed), sync
incrementally, scan each meeting with :mod:`integrations.conferencing.detection`,
and keep the notetaker bot's schedule in step (scheduled, moved, cancelled).

One module per responsibility: :mod:`.base` (shared shapes and tokens),
:mod:`.meetings` (the scan, the bot, the event rows), :mod:`.google`,
:mod:`.microsoft` and :mod:`.ics_feed` (one source each), :mod:`.sync` (connect,
disconnect, the claimed sync and its schedule), :mod:`.pages` (what the console's
pages show). This package re-exports what views, tasks and other apps' pages call,
so ``integrations.conferencing.calendars.<name>`` stays the way in.
"""

from integrations.conferencing.calendars.base import WINDOW_AHEAD, WINDOW_PAST, CalendarError, EventData
from integrations.conferencing.calendars.ics_feed import ics_sync, ics_url_check
from integrations.conferencing.calendars.meetings import (
    calendar_event_recording_set,
    calendar_events_apply,
    meeting_scan,
    notetaker_sync,
)
from integrations.conferencing.calendars.pages import calendar_personal_context, recording_rules_context
from integrations.conferencing.calendars.sync import (
    calendar_connect_ics,
    calendar_disconnect,
    calendar_oauth_begin,
    calendar_oauth_complete,
    calendar_sync,
    calendar_sync_queue,
    calendars_sync_due,
)

__all__ = [
    "WINDOW_AHEAD", "WINDOW_PAST", "CalendarError", "EventData", "calendar_connect_ics", "calendar_disconnect",
    "calendar_event_recording_set", "calendar_events_apply", "calendar_oauth_begin", "calendar_oauth_complete",
    "calendar_personal_context", "calendar_sync", "calendar_sync_queue", "calendars_sync_due", "ics_sync",
    "ics_url_check", "meeting_scan", "notetaker_sync", "recording_rules_context",
]
