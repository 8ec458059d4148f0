"""What was said: tracker hits (Moments), next steps and the recording-notification
verdict, each read from the speaker turns of a transcript."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from chorus.trackers import DEFAULT_TRACKERS  # the Chorus defaults, seeded for new organisations
from integrations.processing.transcript import MAX_SENTENCE, Segment, clip_around, sentence_spans


def default_tracker_specs() -> list[tuple[str, str, tuple[str, ...]]]:
    """:data:`DEFAULT_TRACKERS` as :class:`TrackerMatcher` input, keyed by name."""
    return [(name, name, phrases) for name, phrases in DEFAULT_TRACKERS.items()]


@dataclass(frozen=True)
class Hit:
    """One tracker hit (a Moment): ``phrase`` is the tracker's phrase, ``said`` the words
    as spoken, ``sentence`` the sentence they were said in."""

    tracker_key: Hashable
    tracker_name: str
    at_seconds: float
    speaker: str
    phrase: str
    said: str
    sentence: str


def _at(segment: Segment, offset: int) -> float:
    """When the character at ``offset`` of a turn was said, assuming an even pace."""
    if not segment.text:
        return segment.start
    return round(segment.start + (segment.end - segment.start) * offset / len(segment.text), 2)


def sentence_at(text: str, start: int, end: int) -> str:
    """The sentence of ``text`` holding ``[start, end)``, at most 300 characters."""
    for left, right in sentence_spans(text):
        if left <= start < right:
            return clip_around(text[left:right], start - left, min(end, right) - left)
    return clip_around(text.strip(), start, end)


# Between the words of a phrase: any run of spaces and punctuation, except a sentence
# end (". " / "? "): "next-step", "next  steps" and "next, step" match "next step";
# "…the next. Step one…" does not.
_SEP = r"(?:\s|[^\w\s.!?…]|[.!?](?=\w))+"


def _plural(word: str) -> str:
    """A phrase's last word, tolerant of English plurals (both ways for a phrase
    typed in the plural: "next steps" also matches "next step")."""
    w = re.escape(word)
    low = word.lower()
    if re.search(r"(?:ss|us|is|x|z|ch|sh)$", low):
        return w + "(?:es)?"
    if low.endswith("s") and len(low) > 3:
        return re.escape(word[:-1]) + "s?"
    if re.search(r"[^aeiou]y$", low):
        return re.escape(word[:-1]) + "(?:y|ies)"
    if low[-1:].isalpha() and len(low) > 2:
        return w + "(?:e?s)?"
    return w


def _phrase_pattern(phrase: str) -> str | None:
    """The expression for one tracker phrase (the word boundary before it is the
    matcher's), ``None`` for one without words. Punctuation in a phrase separates
    its words like a space: phrases are text, never regular expressions."""
    words = re.findall(r"\w+", phrase.lower())
    if not words:
        return None
    return _SEP.join([re.escape(w) for w in words[:-1]] + [_plural(words[-1])]) + r"(?!\w)"


class TrackerMatcher:
    """All phrases of an organisation's trackers compiled once into one alternation,
    so a transcript is read in one pass per turn whatever the number of phrases.

    Matching is case-insensitive, on word boundaries ("price" does not match
    "priceless", "cost" not "Costco"), tolerant of plurals and of punctuation between
    the words of a phrase. Where phrases overlap the longest one wins ("next steps"
    over "next"); a phrase in several trackers is a hit for each of them."""

    def __init__(self, trackers: Iterable[tuple[Hashable, str, Iterable[str]]]):
        owners: dict[str, list[tuple[Hashable, str, str]]] = {}
        for key, name, phrases in trackers:
            for phrase in phrases:
                pattern = _phrase_pattern(phrase)
                if pattern is None:
                    continue
                known = owners.setdefault(pattern, [])
                if all(k != key for k, _, _ in known):  # "follow up" and "follow-up" are one phrase
                    known.append((key, name, " ".join(phrase.split())))
        # Longest first (most words, then most characters): at any one position the
        # alternation takes the first phrase that matches.
        self._patterns = sorted(owners, key=lambda p: (-p.count(_SEP), -len(p), p))
        self._owners = [owners[p] for p in self._patterns]
        # One group per phrase tells which matched (``lastindex``). The boundary and the
        # first letters, checked once before the alternation, let the engine skip most
        # positions of a transcript without trying each phrase there.
        firsts = "".join(sorted({re.escape(p[0]) for p in self._patterns}))
        alternation = "|".join(f"({p})" for p in self._patterns)
        self._regex = re.compile(rf"\b(?=[{firsts}])(?:{alternation})", re.IGNORECASE) if alternation else None

    def matches(self, segments: Iterable[Segment]) -> list[Hit]:
        if self._regex is None:
            return []
        hits = []
        for segment in segments:
            for m in self._regex.finditer(segment.text):
                sentence = sentence_at(segment.text, m.start(), m.end())
                at = _at(segment, m.start())
                for key, name, phrase in self._owners[m.lastindex - 1]:
                    hits.append(Hit(key, name, at, segment.speaker, phrase, m.group(), sentence))
        return hits


def hit_topics(hits: Iterable[Hit]) -> list[str]:
    """Tracker names in the order first heard: KEY TOPICS DISCUSSED."""
    return list(dict.fromkeys(h.tracker_name for h in hits))


# --- Next steps -------------------------------------------------------------------

@dataclass(frozen=True)
class NextStep:
    text: str
    speaker: str
    at_seconds: float


# Verbs of a promise made to the other side. "Share", "show" and "walk through" are
# left out on purpose: on a call they are what the speaker does right now.
_ACTION = (r"(?:send|forward|email|shoot|get|set|schedule|book|follow|circle|loop|check|ask|confirm|look|"
           r"find|put|prepare|draft|introduce|connect|reach|talk|run|review|update|invite|call|sync|"
           r"touch|reconnect|regroup|meet|provide|reserve|dig|figure|write|pass)")
# What one checks before answering: "let me check with legal", "I need to ask my boss".
_ASK = (r"(?:check|double[-\s]check|confirm|ask|talk|run|loop|send|email|forward|follow|get\s+back|"
        r"circle\s+back|find\s+out|look\s+into|dig\s+into|reach\s+out|see\s+if|figure\s+out|review)")
_NOT = r"(?!\s+(?:not|never|no\s+longer)\b)"
# Future tense that commits to nothing after the call: "I'll be honest", "we'll see",
# "I'll share my screen", "I'm going to walk you through".
_FILLER = (r"(?!\s+(?:be\s+(?:honest|frank|brief|quick|candid|straight|fine|right\s+back)|admit|say|bet|"
           r"see|guess|let\s+you\s+go|tell\s+you\s+what|share\s+(?:my|the|our)\s+screen|stop\s+sharing|"
           r"show\s+you|walk\s+you|hand\s+(?:it|you|this)|pull\s+(?:it\s+|that\s+|this\s+)?up|"
           r"start\s+(?:with|by|off)|jump|go\s+ahead|keep\s+it|explain|repeat|mute|unmute|introduce\s+myself)\b)")
_FIRST = r"\b(?:i|we)"
COMMITMENT = re.compile(
    _FIRST + r"(?:'ll|’ll|\s+will|\s+shall)" + _NOT + _FILLER + r"\s+\w"
    r"|" + _FIRST + r"(?:'m|’m|\s+am|'re|’re|\s+are)\s+(?:going\s+to|gonna)" + _FILLER + r"\s+" + _ACTION +
    r"|" + _FIRST + r"\s+can" + _NOT + _FILLER + r"\s+" + _ACTION +
    r"|" + _FIRST + r"\s+(?:need|have)\s+to\s+" + _ASK +
    r"|\blet\s+me\s+" + _ASK +
    r"|\blet(?:'s|’s|\s+us)\s+(?:schedule|set\s+up|book|meet|plan|reconnect|regroup|follow\s+up|"
    r"circle\s+back|touch\s+base|sync|pencil|lock\s+in|find\s+(?:a|some)\s+time|get\s+.{0,40}?"
    r"\bon\s+(?:the|your|our)\s+calendar)"
    r"|\bnext\s+steps?\s*(?:is|are|would\s+be|will\s+be|:)",
    re.IGNORECASE,
)
# A question is no commitment, but a tag question after one still is ("I'll send it, okay?").
QUESTION_TAG = re.compile(
    r",\s*(?:right|okay|ok|yeah|alright|all\s+right|sound\s+good|sounds\s+good|does\s+that\s+work|"
    r"is\s+that\s+ok(?:ay)?|fair)\s*\?[\"'”’)]*$", re.IGNORECASE)
# "I don't think I'll…", "not sure we'll…": the speaker doubts it.
DOUBT = re.compile(r"\b(?:don'?t|do\s+not)\s+think\b|\bnot\s+sure\b|\bdoubt\b", re.IGNORECASE)
SIMILAR = 0.9


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _similar(a: str, b: str) -> bool:
    m = SequenceMatcher(None, a, b)
    return m.real_quick_ratio() >= SIMILAR and m.quick_ratio() >= SIMILAR and m.ratio() >= SIMILAR


def _commitment(sentence: str) -> re.Match[str] | None:
    if sentence.rstrip("\"'”’)").endswith("?") and not QUESTION_TAG.search(sentence):
        return None
    found = COMMITMENT.search(sentence)
    return found if found and not DOUBT.search(sentence[: found.start()]) else None


def next_steps_find(segments: Iterable[Segment]) -> list[NextStep]:
    """Sentences in which a participant commits to an action ("I'll send…", "let me
    check with… and get back to you", "let's schedule…", "next step is…"), in the
    order said. Questions, negations ("I won't…") and reports of what was done ("I
    sent it yesterday") are not next steps; a sentence said again (near-identical
    words) is kept once, the first time."""
    steps: list[NextStep] = []
    seen: list[str] = []
    for segment in segments:
        for left, right in sentence_spans(segment.text):
            sentence = segment.text[left:right]
            found = _commitment(sentence)
            if found is None:
                continue
            key = _words(sentence)
            if any(_similar(key, other) for other in seen):
                continue
            seen.append(key)
            # Unpunctuated speech-to-text makes long "sentences": keep the words around
            # the promise, and its time rather than the sentence's.
            at = _at(segment, left if len(sentence) <= MAX_SENTENCE else left + found.start())
            steps.append(NextStep(clip_around(sentence, found.start(), found.end()), segment.speaker, at))
    return steps


# --- Recording-notification verdict ----------------------------------------------

@dataclass(frozen=True)
class Verdict:
    detected: bool
    phrase: str = ""
    at_seconds: float | None = None


def _normal(text: str) -> tuple[str, list[int]]:
    """``text`` lower-cased with punctuation as single spaces, and for each character
    of the result its offset in ``text`` (to tell when it was said)."""
    out, where = [], []
    for i, ch in enumerate(text.lower()):
        if ch.isalnum():
            out.append(ch)
            where.append(i)
        elif out and out[-1] != " ":
            out.append(" ")
            where.append(i)
    return "".join(out), where


def notification_verdict(segments: Sequence[Segment], *, phrases: Iterable[str], window_seconds: float) -> Verdict:
    """Was any recording-notification phrase said within the first ``window_seconds``?

    Case- and punctuation-insensitive, whole words ("this call is being recorded"
    matches "This call is being... recorded!"). The phrase must *start* within the
    window; its time inside a turn is estimated from its position in the turn. The
    earliest phrase heard is the one reported."""
    # Normalised phrase → the phrase as the admin typed it (first one wins).
    wanted: dict[str, str] = {}
    for phrase in phrases:
        key = _normal(phrase)[0].strip()
        if key:
            wanted.setdefault(key, " ".join(phrase.split()))
    heard = Verdict(False)
    for segment in segments:
        if segment.start > window_seconds:
            continue
        text, where = _normal(segment.text)
        padded = f" {text} "
        for key, phrase in wanted.items():
            pos = padded.find(f" {key} ")
            at = _at(segment, where[pos]) if pos >= 0 else None
            if at is not None and at <= window_seconds and (heard.at_seconds is None or at < heard.at_seconds):
                heard = Verdict(True, phrase, at)
    return heard
