"""A small RFC 5545 reader for ICS feeds: VEVENTs with their attendees, expanded
(RRULE/EXDATE via python-dateutil) within a window. No icalendar package is
installed; this covers what calendar feeds publish for meetings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

_UNFOLD = re.compile(r"\r?\n[ \t]")


@dataclass
class Prop:
    name: str
    params: dict[str, str]
    value: str


@dataclass
class IcsEvent:
    uid: str
    starts_at: datetime
    ends_at: datetime | None
    summary: str = ""
    location: str = ""
    description: str = ""
    url: str = ""
    organizer: str = ""
    attendees: list[dict] = field(default_factory=list)
    cancelled: bool = False
    recurrence_id: datetime | None = None

    @property
    def external_id(self) -> str:
        return self.uid if self.recurrence_id is None else f"{self.uid}@{self.recurrence_id.isoformat()}"


def _split(line: str) -> Prop | None:
    in_quotes, colon = False, -1
    for i, ch in enumerate(line):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == ":" and not in_quotes:
            colon = i
            break
    if colon < 0:
        return None
    head, value = line[:colon], line[colon + 1 :]
    parts = head.split(";")
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.upper()] = v.strip('"')
    return Prop(parts[0].upper(), params, value)


def _text(value: str) -> str:
    return value.replace("\\n", "\n").replace("\\N", "\n").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")


def _zone(tzid: str | None):
    if not tzid:
        return None
    try:
        return ZoneInfo(tzid.strip("/"))
    except (ZoneInfoNotFoundError, ValueError):
        return UTC  # e.g. Outlook's "Pacific Standard Time": better a time than nothing


def _dt(prop: Prop) -> datetime:
    v = prop.value.strip()
    if prop.params.get("VALUE") == "DATE" or len(v) == 8:
        d = date(int(v[:4]), int(v[4:6]), int(v[6:8]))
        return datetime.combine(d, time.min, tzinfo=UTC)
    naive = datetime.strptime(v.rstrip("Z"), "%Y%m%dT%H%M%S")
    if v.endswith("Z"):
        return naive.replace(tzinfo=UTC)
    return naive.replace(tzinfo=_zone(prop.params.get("TZID")) or UTC)


def _mailto(value: str) -> str:
    return value[7:].strip().lower() if value.lower().startswith("mailto:") else value.strip().lower()


def _duration(value: str) -> timedelta:
    m = re.fullmatch(r"([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value.strip())
    if not m:
        return timedelta(0)
    sign = -1 if m.group(1) == "-" else 1
    w, d, h, mi, s = (int(x or 0) for x in m.groups()[1:])
    return sign * timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)


def parse(text: str, *, window_start: datetime, window_end: datetime) -> list[IcsEvent]:
    """Every event instance overlapping the window (recurrences expanded;
    a modified instance, with RECURRENCE-ID, replaces the generated one)."""
    lines = _UNFOLD.sub("", text).splitlines()
    blocks: list[list[Prop]] = []
    current: list[Prop] | None = None
    depth = 0
    for line in lines:
        upper = line.strip().upper()
        if upper == "BEGIN:VEVENT":
            current, depth = [], 0
            continue
        if current is None:
            continue
        if upper.startswith("BEGIN:"):  # VALARM inside an event
            depth += 1
            continue
        if upper.startswith("END:") and depth:
            depth -= 1
            continue
        if upper == "END:VEVENT":
            blocks.append(current)
            current = None
            continue
        if depth == 0:
            prop = _split(line)
            if prop:
                current.append(prop)

    events: list[IcsEvent] = []
    overrides: set[tuple[str, datetime]] = set()
    masters = []
    for props in blocks:
        by = {}
        for p in props:
            by.setdefault(p.name, []).append(p)
        if "DTSTART" not in by or "UID" not in by:
            continue
        start = _dt(by["DTSTART"][0])
        if "DTEND" in by:
            end = _dt(by["DTEND"][0])
        elif "DURATION" in by:
            end = start + _duration(by["DURATION"][0].value)
        else:
            end = None
        ev = IcsEvent(
            uid=by["UID"][0].value.strip(),
            starts_at=start,
            ends_at=end,
            summary=_text(by.get("SUMMARY", [Prop("", {}, "")])[0].value),
            location=_text(by.get("LOCATION", [Prop("", {}, "")])[0].value),
            description=_text(by.get("DESCRIPTION", [Prop("", {}, "")])[0].value),
            url=by.get("URL", [Prop("", {}, "")])[0].value.strip(),
            organizer=_mailto(by["ORGANIZER"][0].value) if "ORGANIZER" in by else "",
            attendees=[
                {"email": _mailto(a.value), "declined": a.params.get("PARTSTAT", "").upper() == "DECLINED"}
                for a in by.get("ATTENDEE", [])
            ],
            cancelled=by.get("STATUS", [Prop("", {}, "")])[0].value.strip().upper() == "CANCELLED",
        )
        if "RECURRENCE-ID" in by:
            ev.recurrence_id = _dt(by["RECURRENCE-ID"][0])
            overrides.add((ev.uid, ev.recurrence_id))
            if ev.starts_at <= window_end and (ev.ends_at or ev.starts_at) >= window_start:
                events.append(ev)
        elif "RRULE" in by:
            masters.append((ev, by))
        elif start <= window_end and (end or start) >= window_start:
            events.append(ev)
    for ev, by in masters:
        length = (ev.ends_at - ev.starts_at) if ev.ends_at else timedelta(0)
        rule = rrulestr(by["RRULE"][0].value, dtstart=ev.starts_at)
        excluded = {_dt(Prop("EXDATE", p.params, v)) for p in by.get("EXDATE", []) for v in p.value.split(",")}
        for occurrence in rule.between(window_start - length, window_end, inc=True):
            if occurrence in excluded or (ev.uid, occurrence) in overrides:
                continue
            events.append(
                IcsEvent(
                    uid=ev.uid,
                    starts_at=occurrence,
                    ends_at=occurrence + length if ev.ends_at else None,
                    summary=ev.summary,
                    location=ev.location,
                    description=ev.description,
                    url=ev.url,
                    organizer=ev.organizer,
                    attendees=ev.attendees,
                    cancelled=ev.cancelled,
                    recurrence_id=occurrence,
                )
            )
    return sorted(events, key=lambda e: e.starts_at)
