"""Post-meeting briefs: a meeting summary and action items, written by one of the
:class:`BriefWriter` engines and stored with the engine's name.

The seed: "We cannot generate Meeting Summary or Action Items for meetings less than
10 minutes" (and briefs are for Enterprise packages: the caller checks that).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from integrations.processing.analysis import NextStep
from integrations.processing.transcript import Segment, clip_around, sentence_spans

MIN_BRIEF_SECONDS = 10 * 60
SUMMARY_MIN, SUMMARY_MAX = 3, 5
MIN_SUMMARY_WORDS = 6  # "Yeah, that makes sense." says nothing about the meeting
MAX_ACTION_ITEMS = 10

_STOPWORDS = """
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
mustn't my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't
she she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then
there there's these they they'd they'll they're they've this those through to too under until up very was
wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who who's
whom why why's with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
yeah yes yep okay ok oh um uh uhm hmm like just really right sure well so actually basically kind sort
thing things stuff lot lots gonna wanna got get gets getting go goes going know think mean see say said
great good awesome cool thanks thank hi hello bye maybe probably one two also still even much many way
"""
STOPWORDS = frozenset(_STOPWORDS.split())


def brief_eligible(duration_seconds: float) -> bool:
    """The seed writes no Meeting Summary or Action Items for meetings under 10 minutes."""
    return duration_seconds >= MIN_BRIEF_SECONDS


@dataclass(frozen=True)
class ActionItem:
    text: str
    speaker: str


@dataclass(frozen=True)
class Brief:
    summary: str
    action_items: list[ActionItem] = field(default_factory=list)
    engine: str = ""


class BriefWriter(Protocol):
    """One engine that writes post-meeting briefs; ``engine`` is stored with each brief."""

    engine: str

    def write(self, *, title: str, segments: Sequence[Segment], next_steps: Sequence[NextStep]) -> Brief: ...


def _terms(text: str) -> list[str]:
    words = (w.removesuffix("'s").removesuffix("’s") for w in re.findall(r"[\w'’]+", text.lower()))
    return [w for w in words if len(w) > 2 and w not in STOPWORDS and not w.isdigit()]


@dataclass(frozen=True)
class _Sentence:
    index: int
    speaker: str
    text: str
    terms: tuple[str, ...]


def action_items_from(next_steps: Sequence[NextStep]) -> list[ActionItem]:
    """Each next step, attributed to whoever committed to it."""
    return [ActionItem(step.text, step.speaker) for step in next_steps[:MAX_ACTION_ITEMS]]


class ExtractiveBriefWriter:
    """The offline default: no model, no network, the same brief for the same input.

    The summary is the 3–5 most telling sentences in the order they were said, one
    "Speaker: sentence" line each (at most 300 characters). A sentence scores the
    weights of its distinct content words (frequency across the call × rarity across
    sentences, words of the meeting title counted double) divided by the square root
    of their number, so long sentences do not win by length alone, and slightly more
    early in the call, where agendas and goals are said; a sentence that repeats a
    chosen one (half its words or more) is passed over. Questions and short acknowledgements are
    never chosen. Action items are the next steps."""

    engine = "extractive"

    def write(self, *, title: str, segments: Sequence[Segment], next_steps: Sequence[NextStep]) -> Brief:
        said = ((s.speaker, s.text[a:b]) for s in segments for a, b in sentence_spans(s.text))
        sentences = [_Sentence(i, speaker, text, tuple(_terms(text))) for i, (speaker, text) in enumerate(said)]
        chosen = self._choose(sentences, title=title)
        lines = [(s.speaker, clip_around(s.text, 0, 0)) for s in chosen]
        summary = "\n".join(f"{speaker}: {text}" if speaker else text for speaker, text in lines)
        return Brief(summary=summary, action_items=action_items_from(next_steps), engine=self.engine)

    def _choose(self, sentences: list[_Sentence], *, title: str) -> list[_Sentence]:
        if not sentences:
            return []
        frequency = Counter(t for s in sentences for t in s.terms)
        spread = Counter(t for s in sentences for t in dict.fromkeys(s.terms))
        title_terms = set(_terms(title))
        top = max(frequency.values(), default=1)

        def weight(term: str) -> float:
            rarity = math.log((len(sentences) + 1) / (spread[term] + 1)) + 1
            return frequency[term] / top * rarity * (2 if term in title_terms else 1)

        def score(s: _Sentence) -> float:
            distinct = list(dict.fromkeys(s.terms))
            position = 1 + 0.2 * (1 - s.index / len(sentences))
            return sum(weight(t) for t in distinct) / math.sqrt(max(len(distinct), 4)) * position

        candidates = [s for s in sentences
                      if len(s.text.split()) >= MIN_SUMMARY_WORDS and not s.text.rstrip("\"'”’)").endswith("?")
                      and s.terms]
        wanted = min(SUMMARY_MAX, max(SUMMARY_MIN, len(candidates) // 20))
        chosen: list[_Sentence] = []
        for s in sorted(candidates, key=lambda s: (-score(s), s.index)):
            if len(chosen) == wanted:
                break
            if all(_overlap(s.terms, c.terms) < 0.5 for c in chosen):
                chosen.append(s)
        return sorted(chosen, key=lambda s: s.index)


def _overlap(a: Sequence[str], b: Sequence[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0
