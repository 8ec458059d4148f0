"""Speaker turns with times, and the WebVTT reader for provider transcripts.

Zoom cloud recordings list a ``TRANSCRIPT`` file (WebVTT) beside the audio; each cue
is ``<id>\\n<start> --> <end>\\n<Speaker Name>: <text>``. Other producers mark the
speaker with a ``<v Speaker>`` voice tag instead. Either way the result is a list of
:class:`Segment` turns, which every later step (trackers, next steps, the verdict,
the brief) reads.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Two cues of one speaker become one turn only when the second starts within this
# many seconds of the first's end: Zoom splits a long turn into back-to-back cues,
# whereas a pause longer than this is a new turn worth its own timestamp.
MERGE_GAP_SECONDS = 1.0
# Sentences quoted as Moments, next steps and summary lines are clipped to this.
MAX_SENTENCE = 300
# A "Name: text" prefix longer than this is a sentence with a colon, not a name.
MAX_SPEAKER_LENGTH = 80

TIMESTAMP = r"(?:(\d+):)?(\d{2}):(\d{2})[.,](\d{3})"
TIMING = re.compile(rf"^\s*{TIMESTAMP}[ \t]+-->[ \t]+{TIMESTAMP}(?:[ \t].*)?$")
VOICE = re.compile(r"<v(?:\.[^\s>]*)?[ \t]+([^>]*)>", re.IGNORECASE)
TAG = re.compile(r"</?[^>]*>")
# Zoom: "Willy Wonka: Hello". The name has no sentence punctuation and the colon is
# followed by a space, so "at 3:00" or "Note.: x" are not names.
ZOOM_SPEAKER = re.compile(rf"^([^:.?!;\"<>]{{1,{MAX_SPEAKER_LENGTH}}}):(?:\s+|$)")
# A sentence ends at . ! ? or … (optionally closed by a quote or bracket) followed by
# whitespace or the end: "3.5 million" and "acme.com" are not sentence ends.
SENTENCE_END = re.compile(r"(?:[.!?]+|…)[\"'”’)\]]*(?=\s|$)")


@dataclass(frozen=True)
class Segment:
    """One speaker turn: ``start`` and ``end`` in seconds from the start of the call."""

    speaker: str
    start: float
    end: float
    text: str


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float | None:
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def _cue_turns(lines: list[str]) -> list[tuple[str, str]]:
    """(speaker, text) pieces of one cue's text lines. A voice tag starts a new piece;
    without one, Zoom's "Name:" prefix on the first line names the speaker."""
    pieces: list[tuple[str, list[str]]] = []
    for line in lines:
        voice = VOICE.search(line)
        if voice:
            before, line = line[: voice.start()], line[voice.end():]
            if TAG.sub("", before).strip():
                if not pieces:
                    pieces.append(("", []))
                pieces[-1][1].append(before)
            pieces.append((" ".join(voice.group(1).split()), [line]))
        elif pieces:
            pieces[-1][1].append(line)
        else:
            pieces.append(("", [line]))
    turns = []
    for speaker, texts in pieces:
        text = " ".join(html.unescape(TAG.sub("", " ".join(texts))).split())
        if not speaker:
            named = ZOOM_SPEAKER.match(text)
            if named:
                speaker, text = named.group(1).strip(), text[named.end():]
        if text:
            turns.append((speaker, text))
    return turns


def _cues(body: str) -> Iterable[Segment]:
    for block in re.split(r"\n[ \t]*\n", body):
        lines = block.strip("\n").split("\n")
        # NOTE, STYLE and REGION blocks carry no speech.
        if re.match(r"(?:NOTE|STYLE|REGION)(?:\s|$)", lines[0]):
            continue
        at = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        timing = TIMING.match(lines[at]) if at is not None else None
        if timing is None:
            continue  # as WebVTT readers do: a cue without valid timings is dropped
        start, end = _seconds(*timing.groups()[:4]), _seconds(*timing.groups()[4:])
        if start is None or end is None or end < start:
            continue
        turns = _cue_turns(lines[at + 1:])
        total = sum(len(text) for _, text in turns)
        offset = 0
        for speaker, text in turns:
            # Several voices in one cue share its time in proportion to what each said.
            share = (end - start) / total if total else 0
            yield Segment(speaker, round(start + offset * share, 3), round(start + (offset + len(text)) * share, 3),
                          text)
            offset += len(text)


def segments_from_vtt(text: str) -> list[Segment]:
    """The speaker turns of a WebVTT transcript, in time order. Consecutive cues of
    one speaker are one turn when they are contiguous (see ``MERGE_GAP_SECONDS``).

    Raises ``ValueError`` when ``text`` is not WebVTT, so a wrong download (an HTML
    error page, a JSON body, an audio file) fails the step instead of making an
    empty transcript."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    header, _, body = text.partition("\n")
    if not re.match(r"WEBVTT(?:[ \t]|$)", header):
        raise ValueError("Not a WebVTT transcript: the first line must be 'WEBVTT'.")
    turns: list[Segment] = []
    for cue in sorted(_cues(body), key=lambda s: s.start):
        last = turns[-1] if turns else None
        if last and last.speaker == cue.speaker and cue.start - last.end <= MERGE_GAP_SECONDS:
            turns[-1] = Segment(last.speaker, last.start, max(last.end, cue.end), f"{last.text} {cue.text}")
        else:
            turns.append(cue)
    return turns


def segments_to_text(segments: Iterable[Segment]) -> str:
    """One "Speaker: text" line per turn: the transcript pushed to CRMs."""
    return "\n".join(f"{s.speaker}: {s.text}" if s.speaker else s.text for s in segments)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of the sentences of ``text``, surrounding space excluded."""
    spans, begin = [], 0
    for end in [m.end() for m in SENTENCE_END.finditer(text)] + [len(text)]:
        piece = text[begin:end]
        stripped = piece.strip()
        if stripped:
            left = begin + piece.index(stripped[0])
            spans.append((left, left + len(stripped)))
        begin = end
    return spans


def clip_around(text: str, start: int, end: int, limit: int = MAX_SENTENCE) -> str:
    """``text`` if it fits in ``limit``, else a window around ``[start, end)`` cut at
    word boundaries and marked with "…"."""
    if len(text) <= limit:
        return text
    room = max(limit - 2 - (end - start), 0)
    left = max(0, min(start - room // 2, len(text) - (limit - 2)))
    right = min(len(text), left + limit - 2)
    if left > 0 and text[left - 1] != " ":
        space = text.find(" ", left, start)
        left = space + 1 if space >= 0 else left
    if right < len(text) and text[right] != " ":
        space = text.rfind(" ", end, right)
        right = space if space >= 0 else right
    return ("…" if left > 0 else "") + text[left:right].strip() + ("…" if right < len(text) else "")
