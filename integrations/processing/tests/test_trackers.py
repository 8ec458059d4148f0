import re
from pathlib import Path
from unittest import mock

import pytest

from integrations.processing.analysis import (
    DEFAULT_TRACKERS,
    Hit,
    TrackerMatcher,
    default_tracker_specs,
    hit_topics,
    sentence_at,
)
from integrations.processing.transcript import Segment, segments_from_vtt

ZOOM = Path(__file__).parent / "fixtures" / "zoom"


def said(matcher: TrackerMatcher, text: str) -> list[str]:
    return [h.said for h in matcher.matches([Segment("Al", 0, 10, text)])]


@pytest.fixture
def pricing():
    return TrackerMatcher([(1, "Pricing", ["price", "cost", "per seat"]), (2, "Next Steps", ["next step"]),
                           (3, "Budget", ["budget"]), (4, "Timing", ["company policy", "deadlines", "tax"])])


@pytest.mark.parametrize(("text", "expected"), [
    ("The price is fine", ["price"]),
    ("PRICES went up, prices!", ["PRICES", "prices"]),
    ("the price's fine", ["price"]),
    ("two budgets and one Budget", ["budgets", "Budget"]),
    ("costs and cost", ["costs", "cost"]),
    ("taxes and tax", ["taxes", "tax"]),
    ("company policies", ["company policies"]),
    ("one deadline, two deadlines", ["deadline", "deadlines"]),  # a phrase typed in the plural
    ("€40 per-seat, $50 per  seats", ["per-seat", "per  seats"]),
    ("next-step, next  steps, next / step, Next—Steps, next,step", ["next-step", "next  steps", "next / step",
                                                                   "Next—Steps", "next,step"]),
])
def test_case_plurals_and_punctuation(pricing, text, expected):
    assert said(pricing, text) == expected


@pytest.mark.parametrize("text", [
    "That demo was priceless",  # "price" is a word, not a prefix
    "We buy at Costco",
    "budgetary constraints",
    "a costume party",
    "overpriced",
    "what comes next. Step one is the demo",  # a sentence end is not a separator
    "the next? Step",
])
def test_word_boundaries(pricing, text):
    assert said(pricing, text) == []


def test_a_hit_has_the_tracker_speaker_time_and_sentence():
    matcher = TrackerMatcher([("t-pricing", "Pricing", ["price"])])
    segment = Segment("Marcus Lee", 100.0, 110.0, "Hello there. What is the price per seat? Thanks.")
    (hit,) = matcher.matches([segment])
    offset = segment.text.index("price")
    assert hit == Hit("t-pricing", "Pricing", round(100 + 10 * offset / len(segment.text), 2), "Marcus Lee",
                      "price", "price", "What is the price per seat?")
    assert 100 < hit.at_seconds < 110


def test_the_longest_phrase_wins_and_shared_phrases_hit_every_tracker():
    matcher = TrackerMatcher([("a", "Authority", ["decision", "decision maker"]),
                              ("n", "Next Steps", ["follow up", "follow-up", "Follow  up"]),
                              ("x", "Other", ["follow up"])])
    hits = matcher.matches([Segment("Al", 0, 1, "The decision maker wants a follow-up.")])
    assert [(h.tracker_key, h.phrase, h.said) for h in hits] == [
        ("a", "decision maker", "decision maker"), ("n", "follow up", "follow-up"), ("x", "follow up", "follow-up")]
    # More words win over more letters: "go live" is found in "go lives", not "go".
    matcher = TrackerMatcher([(1, "Timing", ["go live"]), (2, "Other", ["go", "golive"])])
    assert said(matcher, "we go lives soon") == ["go lives"]


def test_phrases_are_literal_text_not_regular_expressions():
    assert said(TrackerMatcher([(1, "Odd", ["a.b (c)", "***", ""])]), "a b c and axb c") == ["a b c"]
    assert said(TrackerMatcher([(1, "Odd", ["[a-z]+"])]), "xyz and a-z") == ["a-z"]
    # Punctuation is a separator, as between words: "c++" is the word "c".
    assert said(TrackerMatcher([(1, "Odd", ["c++"])]), "we use c++ and cc") == ["c"]
    assert TrackerMatcher([(1, "Empty", ["", "  ", "?!"])]).matches([Segment("Al", 0, 1, "anything")]) == []
    assert TrackerMatcher([]).matches([Segment("Al", 0, 1, "anything")]) == []


def test_the_sentence_is_trimmed_around_the_match():
    words = " ".join(f"word{i}" for i in range(120))
    text = f"Intro. {words} the pricing question {words}. Outro."
    start = text.index("pricing")
    sentence = sentence_at(text, start, start + len("pricing"))
    assert len(sentence) <= 300 and "pricing" in sentence
    assert sentence.startswith("…word") and sentence.endswith("…")
    assert " ".join(sentence.strip("…").split()) == sentence.strip("…")  # whole words only
    assert sentence_at("Short one. Second", 11, 17) == "Second"


def test_phrases_compile_once_into_one_expression():
    phrases = [f"phrase number {i}" for i in range(300)]
    with mock.patch("integrations.processing.analysis.re.compile", wraps=re.compile) as compiled:
        matcher = TrackerMatcher([(1, "Many", phrases), (2, "Pricing", ["price"])])
        assert compiled.call_count == 1
        compiled.reset_mock()
        text = "prices and phrase number 299 and phrase-number 7 " * 5
        hits = matcher.matches([Segment("Al", i, i + 1, text) for i in range(4)])
        compiled.assert_not_called()
    assert len(hits) == 4 * 5 * 3
    assert hits[2].phrase == "phrase number 7" and hits[1].phrase == "phrase number 299"


def test_matching_reads_each_turn_with_one_finditer():
    matcher = TrackerMatcher([(1, "Pricing", ["price", "cost"])])
    with mock.patch.object(matcher, "_regex", wraps=matcher._regex) as regex:
        matcher.matches([Segment("Al", 0, 1, "price cost"), Segment("Bo", 1, 2, "cost")])
    assert regex.finditer.call_count == 2
    assert [c[0] for c in regex.mock_calls] == ["finditer", "finditer"]


def test_the_default_trackers_on_a_zoom_call():
    names = ["Pricing", "Budget", "Competitors", "Next Steps", "Timing", "Pain", "Authority", "Need", "Metrics",
             "Use Case"]
    assert list(DEFAULT_TRACKERS) == names
    assert all(phrases for phrases in DEFAULT_TRACKERS.values())
    turns = segments_from_vtt((ZOOM / "discovery_call.vtt").read_text())
    hits = TrackerMatcher(default_tracker_specs()).matches(turns)
    assert sorted(hit_topics(hits)) == sorted(names)
    assert not any(h.said.lower() == "problem" for h in hits)  # "Sure, no problem." is no pain
    pricing = [(h.at_seconds, h.speaker, h.said) for h in hits if h.tracker_name == "Pricing"]
    assert pricing[:3] == [(198.18, "Dana Whitfield", "pricing"), (256.11, "Marcus Lee", "pricing"),
                           (261.0, "Marcus Lee", "per seat")]
    assert [h.at_seconds for h in hits] == sorted(h.at_seconds for h in hits)


def test_hit_topics_in_the_order_first_heard():
    def hit(name):
        return Hit(name, name, 0, "", "", "", "")
    assert hit_topics([hit("Budget"), hit("Pain"), hit("Budget"), hit("Need")]) == ["Budget", "Pain", "Need"]
