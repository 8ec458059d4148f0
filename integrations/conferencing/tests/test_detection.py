"""Business-meeting detection: real-world links of every provider on the seed's
list, and the recording rule with its reasons."""

import pytest

from integrations.conferencing.detection import (
    DEFAULT_NOTETAKER_NAME,
    SUPPORTED_LABELS,
    Attendee,
    classify,
    find_links,
    match_url,
)

SEED_LIST = [
    "3CLogic",
    "8x8",
    "Amazon Chime",
    "Avaya",
    "BlueJeans",
    "Cisco WebEx",
    "Clearslide",
    "Demodesk",
    "Dialpad",
    "Go-To-Meeting",
    "Google Meet",
    "HighFive",
    "Join.me",
    "Microsoft Teams",
    "RingCentral Meetings",
    "RingCentral Video",
    "UberConference",
    "Vonage",
    "Zoom",
]

REAL_LINKS = [
    # Zoom, incl. per-company and regional subdomains, personal rooms, webinars, ZoomGov
    ("https://zoom.us/j/98765432101?pwd=dXNFZ0pZbHZmT2V2U1pDUT09", "Zoom"),
    ("https://us02web.zoom.us/j/85212345678?pwd=abc.1", "Zoom"),
    ("https://acme.zoom.us/j/1234567890", "Zoom"),
    ("https://acme-corp.zoom.us/my/jane.doe", "Zoom"),
    ("https://us06web.zoom.us/w/81234567890?tk=abc", "Zoom"),
    ("https://zoom.us/wc/join/98765432101", "Zoom"),
    ("https://www.zoomgov.com/j/1612345678", "Zoom"),
    ("https://eu01web.zoom.us/s/98765432101", "Zoom"),
    # Google Meet
    ("https://meet.google.com/abc-defg-hij", "Google Meet"),
    ("https://meet.google.com/abc-defg-hij?authuser=0&hs=122", "Google Meet"),
    ("https://meet.google.com/lookup/bxqzf7a2cd", "Google Meet"),
    # Microsoft Teams (classic, new short links, consumer)
    (
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA2ZTk1YzQtMzY0@thread.v2/0?context=%7b%22Tid%22%3a%22x%22%7d",
        "Microsoft Teams",
    ),
    ("https://teams.microsoft.com/meet/2345678901234?p=AbCdEfGh", "Microsoft Teams"),
    ("https://teams.live.com/meet/9312345678901", "Microsoft Teams"),
    ("https://gov.teams.microsoft.us/l/meetup-join/19%3ameeting_x%40thread.v2/0", "Microsoft Teams"),
    # Cisco WebEx: company sites are subdomains ("may require customization")
    ("https://acme.webex.com/acme/j.php?MTID=m3e5a0c1f2b4d6e8f0a1b2c3d4e5f6a7b", "Cisco WebEx"),
    ("https://acme.my.webex.com/meet/jane.doe", "Cisco WebEx"),
    ("https://meetings.webex.com/collabs/#/meetings/detail?uuid=I9A8B", None),  # a web app page, no join link
    ("https://acme.webex.com/meet/jdoe", "Cisco WebEx"),
    ("https://acme-eu.webex.com/wbxmjs/joinservice/sites/acme-eu/meeting/download/abc", "Cisco WebEx"),
    ("https://acme.webex.com/acme/e.php?MTID=m123", "Cisco WebEx"),
    # GoTo Meeting
    ("https://global.gotomeeting.com/join/123456789", "Go-To-Meeting"),
    ("https://meet.goto.com/123456789", "Go-To-Meeting"),
    ("https://app.gotomeeting.com/?meetingId=123456789", "Go-To-Meeting"),
    ("https://gotomeet.me/JaneDoe", "Go-To-Meeting"),
    # BlueJeans
    ("https://bluejeans.com/123456789", "BlueJeans"),
    ("https://bluejeans.com/123456789/4321", "BlueJeans"),
    ("https://acme.bluejeans.com/987654321", "BlueJeans"),
    # Join.me
    ("https://join.me/jane-doe", "Join.me"),
    # Amazon Chime
    ("https://chime.aws/1234567890", "Amazon Chime"),
    ("https://app.chime.aws/meetings/?pin=1234567890", "Amazon Chime"),
    # RingCentral
    ("https://meetings.ringcentral.com/j/1481234567", "RingCentral Meetings"),
    ("https://v.ringcentral.com/join/123456789", "RingCentral Video"),
    ("https://video.ringcentral.com/join/987654321", "RingCentral Video"),
    # UberConference / Dialpad Meetings
    ("https://www.uberconference.com/janedoe", "UberConference"),
    ("https://uberconference.com/room/acme-sales", "UberConference"),
    ("https://meetings.dialpad.com/room/acme", "Dialpad"),
    ("https://dialpad.com/meetings/jane-doe", "Dialpad"),
    # 8x8
    ("https://8x8.vc/acme/jane.doe", "8x8"),
    ("https://meet.8x8.com/AcmeWeekly", "8x8"),
    # Avaya
    ("https://spaces.avayacloud.com/spaces/5f1a2b3c4d5e6f7a8b9c0d1e", "Avaya"),
    ("https://meetings.avaya.com/portal/tenants/default/?ID=123", "Avaya"),
    # Vonage
    ("https://meetings.vonage.com/123456789", "Vonage"),
    ("https://video.vonage.com/room/abc", "Vonage"),
    # HighFive
    ("https://acme.highfive.com/ABCD1234", "HighFive"),
    ("https://join.highfive.com/meet/xyz", "HighFive"),
    # Clearslide
    ("https://www.clearslide.com/view/mail?iID=ABCDEF", "Clearslide"),
    ("https://meet.clearslide.com/join/123456", "Clearslide"),
    # Demodesk
    ("https://demodesk.com/meet/jane-doe/abc123", "Demodesk"),
    ("https://app.demodesk.com/r/xyz", "Demodesk"),
    # 3CLogic
    ("https://meet.3clogic.com/acme/123456", "3CLogic"),
]


def test_every_provider_of_the_seeds_list_is_supported():
    assert sorted(SUPPORTED_LABELS, key=str.lower) == sorted(SEED_LIST, key=str.lower)
    covered = {label for _, label in REAL_LINKS if label}
    assert covered == set(SEED_LIST)


@pytest.mark.parametrize("url, label", REAL_LINKS)
def test_real_world_links(url, label):
    link = match_url(url)
    assert (link.provider.label if link else None) == label


@pytest.mark.parametrize(
    "url",
    [
        "https://zoom.us/",
        "https://zoom.us/pricing",
        "https://support.zoom.us/hc/en-us/articles/201362193",
        "https://marketplace.zoom.us/apps/abc",
        "https://explore.zoom.us/en/products/meetings/",
        "https://www.zoom.com/en/products/",
        "https://meet.google.com/",
        "https://teams.microsoft.com/",
        "https://help.webex.com/en-us/article/nv4j8e3",
        "https://acme.example/j/123456789",
        "https://notzoom.us.evil.example/j/123456789",
        "https://zoom.us.evil.example/j/123456789",
        "https://evilzoom.us/j/123456789",
        "https://www.google.com/search?q=zoom",
    ],
)
def test_lookalikes_and_non_meeting_pages_are_not_links(url):
    assert match_url(url) is None


def test_links_are_found_in_descriptions_and_locations():
    description = """Hi team,<br>
    Join Zoom Meeting<br><a href="https://acme.zoom.us/j/81234567890?pwd=xyz">https://acme.zoom.us/j/81234567890?pwd=xyz</a><br>
    Meeting ID: 812 3456 7890 — questions to help@zoom.us.
    Backup: meet.google.com/abc-defg-hij."""
    links = find_links("Conference room 4B", description)
    assert [(link.provider.key, link.url) for link in links] == [
        ("zoom", "https://acme.zoom.us/j/81234567890?pwd=xyz"),
        ("google_meet", "https://meet.google.com/abc-defg-hij"),
    ]
    assert links[0].meeting_id == "81234567890"


def test_wrapped_links_are_unwrapped():
    safelink = (
        "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fteams.microsoft.com%2Fl%2Fmeetup-join"
        "%2F19%253ameeting_abc%2540thread.v2%2F0&data=05%7C01&sdata=x&reserved=0"
    )
    google = "https://www.google.com/url?q=https://us02web.zoom.us/j/85212345678&sa=D&source=calendar"
    assert match_url(safelink).provider.key == "teams"
    assert match_url(google).url == "https://us02web.zoom.us/j/85212345678"


def test_html_entities_in_links():
    (link,) = find_links('<a href="https://acme.webex.com/acme/j.php?MTID=m1&amp;from=cal">join</a>')
    assert link.provider.key == "webex" and "&from=cal" in link.url


# --- The rule ----------------------------------------------------------------------------


ORG = ["acme.example"]
ZOOM = "https://acme.zoom.us/j/81234567890"


def test_external_attendee_and_link_is_recorded():
    d = classify(
        organizer_email="ada@acme.example",
        attendees=["ada@acme.example", "Willy@Wonka.example"],
        texts=[ZOOM],
        org_domains=ORG,
        display_name="Acme Notes",
    )
    assert d.record and d.reason == "recorded: Zoom link and external attendee willy@wonka.example"
    assert d.external == ("willy@wonka.example",) and d.notetaker_name == "Acme Notes"


def test_internal_only_meeting_is_not_recorded():
    d = classify(
        organizer_email="ada@acme.example",
        attendees=["bob@acme.example", "cy@eu.acme.example"],
        texts=[ZOOM],
        org_domains=ORG,
    )
    assert not d.record and d.reason == "not recorded: no external attendee" and d.link.provider.key == "zoom"


def test_no_link_is_not_recorded():
    d = classify(
        organizer_email="ada@acme.example",
        attendees=["willy@wonka.example"],
        texts=["Lunch at the usual place", None],
        org_domains=ORG,
    )
    assert not d.record and d.reason == "not recorded: no supported web conferencing link"


def test_organisers_own_domain_counts_as_internal():
    """Seed: an attendee with a different email domain from the user's."""
    d = classify(
        organizer_email="ada@acme-labs.example", attendees=["bo@acme-labs.example"], texts=[ZOOM], org_domains=ORG
    )
    assert not d.record


def test_rooms_groups_and_declined_attendees_are_not_external():
    d = classify(
        organizer_email="ada@acme.example",
        attendees=[
            "acme.example_3132@resource.calendar.google.com",
            "team_abc@group.calendar.google.com",
            Attendee("willy@wonka.example", declined=True),
            "not-an-email",
        ],
        texts=[ZOOM],
        org_domains=ORG,
    )
    assert not d.record and d.reason == "not recorded: no external attendee"


def test_google_meet_uses_the_default_notetaker_name():
    """Seed: the Display As custom renaming is not supported for Google Meet."""
    d = classify(
        organizer_email="ada@acme.example",
        attendees=["willy@wonka.example"],
        texts=["https://meet.google.com/abc-defg-hij"],
        org_domains=ORG,
        display_name="Acme Notes",
    )
    assert d.record and d.notetaker_name == DEFAULT_NOTETAKER_NAME


def test_cancelled_meeting_is_not_recorded():
    d = classify(
        organizer_email="ada@acme.example",
        attendees=["willy@wonka.example"],
        texts=[ZOOM],
        org_domains=ORG,
        cancelled=True,
    )
    assert not d.record and d.reason == "not recorded: the meeting was cancelled"
