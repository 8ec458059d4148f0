"""The subject and comments body of a pushed task or event, per CRM.

The seed's example of a pushed task is the contract (golden tests in
``crm/tests/test_push_body.py``): four blocks, ``RECORDING:`` with the link,
``ATTENDEES:`` with one "Name, Title" line each, ``KEY TOPICS DISCUSSED:`` with the
trackers found (comma-separated, in the order they were first heard) and
``NEXT STEPS (TRANSCRIPT):`` with one "* …" line per next step. Salesforce and
Dynamics take it as plain text; HubSpot's task body is rich text (HTML), so the
same lines are escaped and joined with ``<br>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from crm.providers import get_provider

SUBJECT_PREFIX = "Chorus - "
UNSCHEDULED = "Unscheduled Meeting"
# Each CRM's subject and body limits, and whether its body is HTML, are capabilities
# of its provider (``crm.providers.<name>``: ``subject_max``, ``body_max``, ``body_html``).
TRUNCATED = "…"


@dataclass(frozen=True)
class Attendee:
    name: str
    title: str = ""

    @property
    def line(self) -> str:
        return f"{self.name}, {self.title}" if self.title else self.name


@dataclass
class ActivityContent:
    """What a pushed task or event says, independent of the CRM."""

    title: str
    recording_url: str = ""
    attendees: list[Attendee] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)


def activity_subject(*, title: str, provider: str = "salesforce") -> str:
    """ "Chorus - <meeting title>", or "Chorus - Unscheduled Meeting" without one."""
    subject = SUBJECT_PREFIX + (" ".join((title or "").split()) or UNSCHEDULED)
    limit = get_provider(provider).subject_max
    return subject if len(subject) <= limit else subject[: limit - 1] + TRUNCATED


def _blocks(content: ActivityContent) -> list[tuple[str, list[str]]]:
    """The seed's blocks in its order; a block with nothing to say is left out
    (an unrecorded meeting has no recording link, an email no next steps)."""
    blocks: list[tuple[str, list[str]]] = []
    if content.recording_url:
        blocks.append(("RECORDING:", [content.recording_url]))
    attendees = [a.line for a in content.attendees if a.name.strip()]
    if attendees:
        blocks.append(("ATTENDEES:", attendees))
    if content.topics:
        blocks.append(("KEY TOPICS DISCUSSED:", [", ".join(content.topics)]))
    steps = [" ".join(s.split()) for s in content.next_steps if s and s.strip()]
    if steps:
        blocks.append(("NEXT STEPS (TRANSCRIPT):", [f"* {s}" for s in steps]))
    return blocks


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + TRUNCATED


def activity_body(content: ActivityContent, *, provider: str = "salesforce") -> str:
    """The comments/description of the pushed task or event for ``provider``."""
    blocks = _blocks(content)
    crm = get_provider(provider)
    limit = crm.body_max
    if crm.body_html:
        parts = []
        for heading, lines in blocks:
            rendered = []
            for line in lines:
                if heading == "RECORDING:":
                    rendered.append(f'<a href="{escape(line)}">{escape(line)}</a>')
                else:
                    rendered.append(escape(line))
            parts.append(f"<p><strong>{escape(heading)}</strong><br>" + "<br>".join(rendered) + "</p>")
        return _clip("".join(parts), limit)
    text = "\n\n".join(heading + "\n" + "\n".join(lines) for heading, lines in blocks)
    return _clip(text, limit)


def content_for(engagement, *, participants=None, moments=None) -> ActivityContent:
    """The content of ``engagement`` (participants and moments may be passed in
    already loaded, so a caller that prefetches pays no extra query)."""
    participants = list(engagement.participants.all()) if participants is None else participants
    moments = list(engagement.moments.select_related("tracker").all()) if moments is None else moments
    topics: list[str] = []
    for m in sorted(moments, key=lambda m: (m.at_seconds, m.id or 0)):
        if m.tracker.name not in topics:
            topics.append(m.tracker.name)
    return ActivityContent(
        title=engagement.title,
        recording_url=engagement.recording_url,
        attendees=[Attendee(p.name or p.email, p.title) for p in participants if not p.is_ignored],
        topics=topics,
        next_steps=[step["text"] for step in engagement.next_step_items],
    )
