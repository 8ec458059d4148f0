from pathlib import Path

import pytest

from integrations.processing.analysis import NextStep, next_steps_find
from integrations.processing.transcript import Segment, segments_from_vtt

ZOOM = Path(__file__).parent / "fixtures" / "zoom"


def steps(*texts: str) -> list[str]:
    return [s.text for s in next_steps_find([Segment("Al", i * 10, i * 10 + 9, t) for i, t in enumerate(texts)])]


# The seed's own NEXT STEPS (TRANSCRIPT) examples, then the forms the issue names.
@pytest.mark.parametrize("sentence", [
    "Sure, I'll send you the invite for Friday at 3pm.",
    "There's a bunch of other security documentation as well, I'll shoot them over after the call",
    "Great question, let me ask my solutions engineer and i'll get back to you",
    "I will loop in our security team.",
    "We’ll get back to you by Monday.",
    "Let me check with legal and get back to you.",
    "Let's schedule a follow-up for next Tuesday.",
    "Let us set up a call with your CFO.",
    "Let's get something on the calendar for next week.",
    "The next step is a technical deep dive.",
    "Next steps are a pilot and a security review.",
    "Next steps: pilot with ten reps.",
    "I can send over the pricing sheet.",
    "We can set up the sandbox tomorrow.",
    "We'll follow up with the contract.",
    "I'm going to send the proposal tonight.",
    "We're gonna review it with procurement on Thursday.",
    "I need to check with my boss first.",
    "I'll send it over, okay?",
    "Our team will handle it, and I shall confirm the date.",
])
def test_commitments(sentence):
    assert steps(sentence) == [sentence]


@pytest.mark.parametrize("sentence", [
    # questions
    "Will you send me the deck?",
    "Should I send it over?",
    "Can we schedule a demo?",
    "So what's the next step?",
    "Shall we set up a call next week?",
    # negations
    "I won't send anything until legal agrees.",
    "I will not be able to make Friday.",
    "We'll never get budget for that.",
    "I can't send pricing before the review.",
    "We cannot set up a pilot this quarter.",
    "I'm not going to send it yet.",
    # past tense and reports
    "I sent it yesterday.",
    "We already scheduled the demo.",
    "I was going to send it but forgot.",
    "We were going to follow up last week.",
    "I would have sent it.",
    # what happens on the call itself, or says nothing
    "I'll share my screen.",
    "I'm going to walk you through the dashboard.",
    "Let me share my screen.",
    "I'll be honest, the price is high.",
    "We'll see.",
    "Let me know if that works.",
    "Let's talk about pricing.",
    "I don't think we'll renew.",
    "You will get an email from DocuSign.",
    "Thanks, bye.",
])
def test_not_commitments(sentence):
    assert steps(sentence) == []


def test_in_the_order_said_with_speaker_and_time():
    turns = [Segment("Dana", 100.0, 110.0, "Sounds good. I'll send the deck."),
             Segment("Marcus", 111.0, 120.0, "Let me check with Priya and get back to you.")]
    found = next_steps_find(turns)
    assert found == [NextStep("I'll send the deck.", "Dana", round(100 + 10 * 13 / 32, 2)),
                     NextStep("Let me check with Priya and get back to you.", "Marcus", 111.0)]


def test_near_identical_sentences_are_kept_once():
    assert steps("I'll send the deck.", "OK. I'll send the deck!", "I'll send the deck over.",
                 "I’ll send you the deck.", "I'll send the contract.") == [
        "I'll send the deck.", "I'll send the deck over.", "I'll send the contract."]


def test_a_long_sentence_is_clipped():
    (step,) = steps("I'll send " + "the thing and " * 40 + "the rest.")
    assert len(step) <= 300 and step.startswith("I'll send the thing") and step.endswith("…")


def test_unpunctuated_speech_keeps_the_words_around_the_promise():
    chatter = " ".join(["so we looked at the numbers and talked it through with the team"] * 6)
    text = f"{chatter} and i will send the proposal to your legal team on monday {chatter}"
    (step,) = next_steps_find([Segment("Al", 0.0, 100.0, text)])
    assert "i will send the proposal to your legal team on monday" in step.text
    assert len(step.text) <= 300 and step.text.startswith("…") and step.text.endswith("…")
    assert step.at_seconds == round(100 * text.index("i will send") / len(text), 2)


def test_next_steps_of_a_zoom_call():
    turns = segments_from_vtt((ZOOM / "discovery_call.vtt").read_text())
    assert [(s.speaker, s.text) for s in next_steps_find(turns)] == [
        ("Dana Whitfield", "I can send over a formal quote after the call."),
        ("Marcus Lee", "Let me check with Priya and get back to you on her availability."),
        ("Dana Whitfield", "I'll send you the security documentation and the SOC 2 report after the call."),
        ("Dana Whitfield", "So the next step is a demo with Priya."),
        ("Dana Whitfield", "Let's schedule it for Thursday at 2pm."),
        ("Dana Whitfield", "Yes, I'll send the calendar invite today."),
        ("Marcus Lee", "We'll follow up with the list of stakeholders before Thursday."),
    ]
    assert next_steps_find([]) == []
