"""Business-meeting detection, as a pure module (no database, no network).

A calendar event is recorded when it carries a link of a supported web
conferencing provider (the seed's list) and at least one attendee whose email
domain is not the organiser's nor one of the organisation's domains. Each
decision carries a reason an admin can read ("not recorded: no external attendee").
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_NOTETAKER_NAME = "Chorus Notetaker"


@dataclass(frozen=True)
class ConferencingProvider:
    key: str
    label: str
    hosts: tuple[str, ...]  # the host, or any subdomain of it
    path: re.Pattern | None = None  # the path must match (None: any path but "/")
    renamable: bool = True  # does the notetaker's "Display As" name show?
    exact_hosts: tuple[str, ...] = ()  # only these exact hosts (no subdomains)


def _p(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


# The seed's list ("General Web Conferencing Integration"), with the link formats
# those services hand out, including per-company subdomains (acme.zoom.us,
# acme.webex.com, acme.my.webex.com).
PROVIDERS: tuple[ConferencingProvider, ...] = (
    ConferencingProvider(
        "zoom", "Zoom", ("zoom.us", "zoomgov.com", "zoom.com"), _p(r"^/(j|s|w|my|wc(/join)?)/[\w.-]+")
    ),
    ConferencingProvider(
        "google_meet",
        "Google Meet",
        (),
        _p(r"^/(lookup/)?[a-z]{3}-?[a-z]{4}-?[a-z]{3}\b|^/lookup/"),
        renamable=False,
        exact_hosts=("meet.google.com",),
    ),
    ConferencingProvider(
        "teams",
        "Microsoft Teams",
        (),
        _p(r"^/(l/meetup-join|meet|l/meeting)/"),
        exact_hosts=(
            "teams.microsoft.com",
            "teams.live.com",
            "gov.teams.microsoft.us",
            "dod.teams.microsoft.us",
            "teams.microsoft.us",
        ),
    ),
    ConferencingProvider(
        "webex",
        "Cisco WebEx",
        ("webex.com", "webex.com.cn"),
        _p(
            r"(^/[\w.-]+/j\.php|^/[\w.-]+/e\.php|^/(meet|join)/|^/[\w.-]+/(meet|join)/|/wbxmjs/joinservice|^/[\w.-]+/ldr\.php|^/webappng/)"
        ),
    ),
    ConferencingProvider(
        "gotomeeting",
        "Go-To-Meeting",
        ("gotomeeting.com", "gotomeet.me", "goto.com"),
        _p(r"^/(join/)?\d{9}|^/[\w.-]+$|^/join/"),
        exact_hosts=(),
    ),
    ConferencingProvider("bluejeans", "BlueJeans", ("bluejeans.com", "bjn.vc"), _p(r"^/(\d+|[\w.-]+/\d+|m/[\w-]+)")),
    ConferencingProvider("joinme", "Join.me", ("join.me",), _p(r"^/[\w.-]+")),
    ConferencingProvider("chime", "Amazon Chime", ("chime.aws",), _p(r"^/(\d{10}|meetings/)")),
    ConferencingProvider(
        "ringcentral_video",
        "RingCentral Video",
        (),
        _p(r"^/(join|j|w)/\w+"),
        exact_hosts=("v.ringcentral.com", "video.ringcentral.com", "v.ringcentral.co.uk", "video.ringcentral.co.uk"),
    ),
    ConferencingProvider(
        "ringcentral_meetings",
        "RingCentral Meetings",
        (),
        _p(r"^/(j|s|w|my)/\w+"),
        exact_hosts=("meetings.ringcentral.com", "meetings.ringcentral.co.uk"),
    ),
    ConferencingProvider("uberconference", "UberConference", ("uberconference.com",), _p(r"^/(room/)?[\w.-]+")),
    ConferencingProvider(
        "dialpad",
        "Dialpad",
        (),
        _p(r"^/(room/)?[\w.-]+|^/meetings/"),
        exact_hosts=("meetings.dialpad.com", "dialpad.com", "www.dialpad.com"),
    ),
    ConferencingProvider("8x8", "8x8", ("8x8.vc",), _p(r"^/[\w.-]+")),
    ConferencingProvider("8x8_meet", "8x8", (), _p(r"^/[\w.-]+"), exact_hosts=("meet.8x8.com", "video.8x8.com")),
    ConferencingProvider(
        "avaya", "Avaya", ("avayacloud.com", "avaya.com"), _p(r"^/(spaces|meet|join)/[\w.-]+|^/\w+"), exact_hosts=()
    ),
    ConferencingProvider(
        "vonage",
        "Vonage",
        (),
        _p(r"^/[\w.-]+"),
        exact_hosts=("meetings.vonage.com", "meet.vonage.com", "video.vonage.com"),
    ),
    ConferencingProvider("highfive", "HighFive", ("highfive.com",), _p(r"^/[\w.-]+")),
    ConferencingProvider(
        "clearslide", "Clearslide", ("clearslide.com",), _p(r"^/(join|view|meet|m|p)/[\w.-]*|^/[\w.-]+")
    ),
    ConferencingProvider("demodesk", "Demodesk", ("demodesk.com",), _p(r"^/(meet|r|join)?/?[\w.-]+")),
    ConferencingProvider("3clogic", "3CLogic", ("3clogic.com",), _p(r"^/[\w.-]+")),
)
PROVIDERS_BY_KEY = {p.key: p for p in PROVIDERS}
# The seed's list, for the settings page (8x8 counted once).
SUPPORTED_LABELS = sorted({p.label for p in PROVIDERS}, key=str.lower)

# Hosts that are not meeting links even though they sit under a provider's domain.
NOT_MEETING_HOSTS = (
    "support.zoom.us",
    "marketplace.zoom.us",
    "explore.zoom.us",
    "help.webex.com",
    "status.zoom.us",
    "community.zoom.com",
    "www.zoom.com",
    "blog.zoom.us",
    "developers.zoom.us",
    "www.goto.com",
    "support.goto.com",
)

URL_RE = re.compile(
    r"(?i)\b((?:https?://)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}(?::\d+)?(?:/[^\s<>\"'\)\]\}|]*)?)"
)
SAFELINK_HOSTS = ("safelinks.protection.outlook.com",)
# Google Calendar wraps links in google.com/url?q=…; Outlook in safelinks.
REDIRECT_PARAMS = {"safelinks.protection.outlook.com": "url", "www.google.com": "q", "google.com": "q"}
ZOOM_MEETING_ID_RE = re.compile(r"^/(?:j|s|w|wc(?:/join)?)/(\d{9,11})\b")


@dataclass(frozen=True)
class MeetingLink:
    provider: ConferencingProvider
    url: str

    @property
    def meeting_id(self) -> str:
        """The numeric Zoom meeting id, when the link has one."""
        if self.provider.key != "zoom":
            return ""
        m = ZOOM_MEETING_ID_RE.match(urlsplit(self.url).path)
        return m.group(1) if m else ""


def _unwrap(url: str) -> str:
    for _ in range(3):  # nested wrappers happen (safelinks around google.com/url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        param = next((p for h, p in REDIRECT_PARAMS.items() if host == h or host.endswith("." + h)), None)
        if not param or (host in ("www.google.com", "google.com") and parts.path != "/url"):
            return url
        inner = parse_qs(parts.query).get(param)
        if not inner:
            return url
        url = unquote(inner[0]) if "%" in inner[0] else inner[0]
    return url


def _host_matches(host: str, provider: ConferencingProvider) -> bool:
    if host in provider.exact_hosts:
        return True
    return any(host == h or host.endswith("." + h) for h in provider.hosts)


def match_url(url: str) -> MeetingLink | None:
    """The provider of one URL, or None when it is not a meeting link."""
    url = _unwrap(html.unescape(url.strip().rstrip(".,;:!?")))
    if "://" not in url[:10]:
        url = "https://" + url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or host in NOT_MEETING_HOSTS:
        return None
    path = parts.path or "/"
    for provider in PROVIDERS:
        if not _host_matches(host, provider):
            continue
        if path in ("", "/"):
            # meet.goto.com/123456789 and the like need a path; a bare homepage is no meeting
            if provider.key == "gotomeeting" and "meetingid=" in parts.query.lower():
                return MeetingLink(provider, url)
            continue
        if provider.path is None or provider.path.search(path):
            return MeetingLink(provider, url)
    return None


def find_links(*texts: str | None) -> list[MeetingLink]:
    """Every meeting link in the event's location, description and conference data."""
    found: list[MeetingLink] = []
    seen: set[str] = set()
    for text in texts:
        if not text:
            continue
        text = html.unescape(text)
        for m in URL_RE.finditer(text):
            start = m.start()
            if start and text[start - 1] == "@":  # the domain of an email address
                continue
            link = match_url(m.group(1))
            if link and link.url not in seen:
                seen.add(link.url)
                found.append(link)
    return found


# --- The recording rule ------------------------------------------------------------------


NON_PERSON_DOMAINS = (
    "resource.calendar.google.com",
    "group.calendar.google.com",
    "group.v.calendar.google.com",
    "import.calendar.google.com",
)


@dataclass(frozen=True)
class Attendee:
    email: str
    declined: bool = False


@dataclass(frozen=True)
class Decision:
    record: bool
    reason: str
    link: MeetingLink | None = None
    external: tuple[str, ...] = ()
    notetaker_name: str = DEFAULT_NOTETAKER_NAME


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower() if email and "@" in email else ""


def _is_internal(domain: str, internal: set[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in internal)


def classify(
    *,
    organizer_email: str,
    attendees: list[Attendee | str],
    texts: list[str | None],
    org_domains: list[str],
    display_name: str = DEFAULT_NOTETAKER_NAME,
    cancelled: bool = False,
) -> Decision:
    """Should Chorus record this meeting? Seed: a screen-share link of a supported
    provider plus an attendee with a different email domain from the user's."""
    if cancelled:
        return Decision(False, "not recorded: the meeting was cancelled")
    links = find_links(*texts)
    if not links:
        return Decision(False, "not recorded: no supported web conferencing link")
    link = links[0]
    internal = {d.lower().lstrip("@") for d in org_domains if d}
    if _domain(organizer_email):
        internal.add(_domain(organizer_email))
    external = []
    for a in attendees:
        a = a if isinstance(a, Attendee) else Attendee(a)
        domain = _domain(a.email)
        if not domain or a.declined or domain in NON_PERSON_DOMAINS or _is_internal(domain, internal):
            continue
        external.append(a.email.lower())
    if not external:
        return Decision(False, "not recorded: no external attendee", link)
    name = display_name.strip() or DEFAULT_NOTETAKER_NAME
    if not link.provider.renamable:
        name = DEFAULT_NOTETAKER_NAME
    return Decision(
        True, f"recorded: {link.provider.label} link and external attendee {external[0]}", link, tuple(external), name
    )
