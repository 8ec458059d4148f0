from pathlib import Path

import pytest

from integrations.processing.analysis import Verdict, notification_verdict
from integrations.processing.transcript import Segment, segments_from_vtt

ZOOM = Path(__file__).parent / "fixtures" / "zoom"
PHRASES = ["this call is being recorded", "recorded for quality"]


def verdict(*turns: Segment, phrases=PHRASES, window=30) -> Verdict:
    return notification_verdict(list(turns), phrases=phrases, window_seconds=window)


def test_heard_within_the_window():
    found = verdict(Segment("Rep", 0.0, 3.0, "Hi there."), Segment("Rep", 3.0, 8.0, "This call is being recorded."))
    assert found == Verdict(True, "this call is being recorded", 3.0)


def test_heard_after_the_window():
    assert verdict(Segment("Rep", 31.0, 36.0, "This call is being recorded.")) == Verdict(False, "", None)
    assert verdict(Segment("Rep", 40.0, 45.0, "this call is being recorded"), window=60).detected


def test_the_phrase_must_start_within_the_window_not_just_its_turn():
    text = "Thanks for joining, before we start a few words on the agenda. This call is being recorded."
    turn = Segment("Rep", 20.0, 40.0, text)
    at = 20.0 + 20.0 * text.index("This call") / len(text)
    assert at > 30
    assert not verdict(turn).detected
    assert verdict(turn, window=35) == Verdict(True, "this call is being recorded", round(at, 2))


@pytest.mark.parametrize("said", [
    "THIS CALL IS BEING RECORDED",
    "This call is being... recorded!",
    "this call, is being recorded",
    "Just so you know — this   call is being\u00a0recorded.",
    "We record calls: it's recorded, for quality.",
])
def test_case_punctuation_and_space_do_not_matter(said):
    assert verdict(Segment("Rep", 1.0, 5.0, said)).detected


def test_whole_words_only():
    assert not verdict(Segment("Rep", 1.0, 5.0, "This call is being rerecorded for qualityassurance")).detected
    assert not verdict(Segment("Rep", 1.0, 5.0, "nothis call is being recorded")).detected


def test_the_earliest_phrase_is_reported_as_configured():
    phrases = ["Recorded for Quality", "  this   call is being recorded "]
    turn = Segment("Rep", 0.0, 10.0, "This call is being recorded for quality purposes.")
    assert verdict(turn, phrases=phrases) == Verdict(True, "this call is being recorded", 0.0)


def test_no_phrases_or_no_words_hear_nothing():
    turn = Segment("Rep", 0.0, 5.0, "This call is being recorded.")
    assert verdict(turn, phrases=[]) == Verdict(False)
    assert verdict(turn, phrases=["", " ", "..."]) == Verdict(False)
    assert verdict(phrases=PHRASES) == Verdict(False)
    assert verdict(turn, phrases=(p for p in PHRASES)).detected  # any iterable


def test_out_of_order_turns_are_all_read():
    turns = [Segment("Rep", 50.0, 55.0, "Bye."), Segment("Rep", 20.0, 25.0, "recorded for quality"),
             Segment("Rep", 2.0, 5.0, "this call is being recorded")]
    assert verdict(*turns) == Verdict(True, "this call is being recorded", 2.0)


def test_on_zoom_transcripts():
    call = segments_from_vtt((ZOOM / "discovery_call.vtt").read_text())
    found = verdict(*call)
    assert found.detected and found.phrase == "this call is being recorded" and 4.8 < found.at_seconds < 9.6
    assert not verdict(*call, window=5).detected
    tags = segments_from_vtt((ZOOM / "voice_tags.vtt").read_text())
    assert verdict(*tags, phrases=["this call may be recorded"], window=5) == Verdict(
        True, "this call may be recorded", round(1.0 + 3.0 * 7 / 33, 2))
