from pathlib import Path

import pytest

from integrations.processing.transcript import Segment, segments_from_vtt, segments_to_text, sentence_spans

ZOOM = Path(__file__).parent / "fixtures" / "zoom"


def vtt(*cues: str) -> str:
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def test_a_zoom_transcript_becomes_speaker_turns():
    turns = segments_from_vtt((ZOOM / "discovery_call.vtt").read_text())
    assert turns[0] == Segment(
        "Dana Whitfield", 1.2, 9.6,
        "Hi Marcus, thanks for making the time today. Quick heads up before we start, "
        "this call is being recorded for note-taking.")
    assert turns[1] == Segment("Marcus Lee", 10.1, 13.4, "Sure, no problem. Good to meet you, Dana.")
    # A two-line cue is one utterance.
    assert turns[2].text == ("So the agenda today is to understand how your sales team reviews calls "
                             "and where forecasting breaks down for you.")
    assert [t.speaker for t in turns[-3:]] == ["Dana Whitfield", "Marcus Lee", "Dana Whitfield"]
    assert turns[-1] == Segment("Dana Whitfield", 725.0, 730.0, "Thanks Marcus, talk soon.")
    assert all(a.start <= b.start for a, b in zip(turns, turns[1:]))


def test_contiguous_cues_of_one_speaker_merge_but_a_pause_starts_a_new_turn():
    turns = segments_from_vtt((ZOOM / "discovery_call.vtt").read_text())
    marcus = [t for t in turns if t.speaker == "Marcus Lee"]
    # Cues 5 and 6 touch (00:31.000): one turn. Cue 7 comes 25 s later: its own turn.
    assert marcus[1].start == 22.0 and marcus[1].end == 39.8
    assert marcus[1].text.endswith("the deal is already lost.")
    assert marcus[2].start == 65.0


def test_merging_allows_a_small_gap_only():
    text = vtt("00:00.000 --> 00:02.000\nAl: one", "00:02.900 --> 00:04.000\nAl: two",
               "00:05.500 --> 00:06.000\nAl: three", "00:06.000 --> 00:07.000\nBo: four",
               "00:07.000 --> 00:08.000\nAl: five")
    assert segments_from_vtt(text) == [
        Segment("Al", 0.0, 4.0, "one two"), Segment("Al", 5.5, 6.0, "three"),
        Segment("Bo", 6.0, 7.0, "four"), Segment("Al", 7.0, 8.0, "five"),
    ]


def test_voice_tags_settings_styles_notes_and_short_timestamps():
    turns = segments_from_vtt((ZOOM / "voice_tags.vtt").read_text())
    assert turns == [
        Segment("Ana Ruiz", 1.0, 4.0, "Hello, this call may be recorded."),
        Segment("Ben Ode", 4.0, 10.0, "Hi Ana! Our budget: about twenty thousand dollars."),
        Segment("Ana Ruiz", 3723.0, 3725.0, "Bye."),
    ]


def test_a_voice_tag_wins_over_a_colon_in_the_text():
    turns = segments_from_vtt(vtt("00:00:01.000 --> 00:00:02.000\n<v Bo>Note: prices rose."))
    assert turns == [Segment("Bo", 1.0, 2.0, "Note: prices rose.")]


def test_two_voices_in_one_cue_share_its_time():
    turns = segments_from_vtt(vtt("00:10.000 --> 00:20.000\n<v Al>Hello there\n<v Bo>Hi Al, hello"))
    assert [(t.speaker, t.text) for t in turns] == [("Al", "Hello there"), ("Bo", "Hi Al, hello")]
    assert turns[0].start == 10.0 and turns[0].end == turns[1].start and turns[1].end == 20.0
    assert 14.0 < turns[0].end < 16.0


def test_text_before_a_voice_tag_is_kept():
    turns = segments_from_vtt(vtt("00:00.000 --> 00:04.000\n(laughs) <v Bo>So, pricing."))
    assert [(t.speaker, t.text) for t in turns] == [("", "(laughs)"), ("Bo", "So, pricing.")]


def test_bom_and_crlf_and_cr_line_ends():
    body = "WEBVTT\r\n\r\n1\r\n00:00:01.000 --> 00:00:04.500\r\nWilly Wonka: Hello there\r\nand welcome\r\n"
    expected = [Segment("Willy Wonka", 1.0, 4.5, "Hello there and welcome")]
    assert segments_from_vtt("\ufeff" + body) == expected
    assert segments_from_vtt(body.replace("\r\n", "\r")) == expected


def test_a_cue_without_a_speaker_keeps_an_empty_one():
    turns = segments_from_vtt(vtt("00:01.000 --> 00:02.000\nThe time is 3:00 pm. Meet at 10:30.",
                                  "00:09.000 --> 00:10.000\nIs this it. Really: yes"))
    assert [(t.speaker, t.text) for t in turns] == [
        ("", "The time is 3:00 pm. Meet at 10:30."), ("", "Is this it. Really: yes")]


def test_entities_and_formatting_tags_are_text():
    turns = segments_from_vtt(vtt("00:01.000 --> 00:02.000\nAl: <c.hi>R&amp;D</c> &lt;3 <00:01.500>ok"))
    assert turns[0].text == "R&D <3 ok"


def test_invalid_cues_are_dropped_like_webvtt_readers_do():
    text = vtt("00:01.000 --> 00:02.000\nAl: kept",
               "00:61.000 --> 00:62.000\nAl: bad seconds",
               "00:05.000 --> 00:04.000\nAl: ends before it starts",
               "just some text without timings",
               "00:07.000 --> 00:08.000\n<i></i>",
               "NOTE a comment --> that looks like a timing",
               "00:09.000 --> 00:10.000\nBo: also kept")
    assert [t.text for t in segments_from_vtt(text)] == ["kept", "also kept"]


def test_cues_are_put_in_time_order():
    text = vtt("00:20.000 --> 00:21.000\nBo: second", "00:01.000 --> 00:02.000\nAl: first")
    assert [t.text for t in segments_from_vtt(text)] == ["first", "second"]


def test_a_header_alone_is_an_empty_transcript():
    assert segments_from_vtt("WEBVTT") == []
    assert segments_from_vtt("WEBVTT - Zoom\n\n") == []


@pytest.mark.parametrize("text", [
    "",
    "<!DOCTYPE html><html><body>Sign in</body></html>",
    '{"code": 124, "message": "Invalid access token."}',
    "1\n00:00:01,000 --> 00:00:02,000\nAn SRT file\n",
    "WEBVTTX\n\n00:01.000 --> 00:02.000\nhi",
    "ID3\x04\x00\x00\x00binary audio",
])
def test_anything_but_webvtt_is_refused(text):
    with pytest.raises(ValueError, match="Not a WebVTT transcript"):
        segments_from_vtt(text)


def test_segments_to_text():
    text = segments_to_text([Segment("Al", 0, 1, "Hello."), Segment("", 1, 2, "(music)"),
                             Segment("Bo", 2, 3, "Hi: there")])
    assert text == "Al: Hello.\n(music)\nBo: Hi: there"
    assert segments_to_text([]) == ""


def test_sentence_spans():
    text = "  Revenue grew 3.5 percent at acme.com! Did it? \"Yes.\" Then more…  tail"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Revenue grew 3.5 percent at acme.com!", "Did it?", '"Yes."', "Then more…", "tail"]
    assert sentence_spans("") == [] and sentence_spans("   ") == []
