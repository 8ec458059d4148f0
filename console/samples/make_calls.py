"""Regenerates the sample sales calls in ``calls/``: two voices of espeak-ng per call,
joined with short silences and encoded as small 16 kHz mono Ogg Opus files, each with
its Zoom-style WebVTT transcript (the real time of every turn) and its reference words
(for the speech-to-text word error rate).

The files are committed; run this only to change them (not run by the Makefile):

    python console/samples/make_calls.py

Needs espeak-ng and ffmpeg (Debian packages). The output is the same on every run of
the same espeak-ng and ffmpeg versions, so regenerating makes no needless diff.
"""

from __future__ import annotations

import array
import shutil
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parent / "calls"
RATE = 16000  # samples per second, mono, 16-bit: what the offline engine decodes
WORDS_PER_MINUTE = 160  # a normal speaking rate (espeak-ng's default is 175)
LEAD_IN = 0.5  # seconds of silence before the first turn
GAP = 0.6  # seconds of silence between turns
SILENT = 300  # |sample| below this at a turn's edges is espeak-ng's padding, trimmed
OPUS_BITRATE = "24k"

# name -> (speaker -> espeak-ng voice, turns). Two Dunder Mifflin reps, two prospects
# of the demo; tracker phrases (pain, budget, competitor, decision maker, pricing,
# timeline) and commitments for the processing steps to find. wonka-discovery opens
# with the recording notice, sabre-pricing has none, wonka-followup gives it in other
# words ("recorded for quality").
CALLS: dict[str, tuple[dict[str, str], list[tuple[str, str]]]] = {
    "wonka-discovery": (
        {"Jim Halpert": "en-us+m3", "Willy Wonka": "en-us+m7"},
        [
            ("Jim Halpert", "Hi Willy, this is Jim Halpert from Dunder Mifflin. "
                            "Just so you know, this call is being recorded."),
            ("Willy Wonka", "That is fine, Jim. Our biggest challenge is paper for the factory. "
                            "The manual process takes too long."),
            ("Jim Halpert", "I understand. What budget have you set aside for this year?"),
            ("Willy Wonka", "About fifty thousand dollars. We are also evaluating other vendors, like Staples."),
            ("Jim Halpert", "Who is the decision maker on your side?"),
            ("Willy Wonka", "I am, but let me check with my CFO and get back to you."),
            ("Jim Halpert", "Great. I'll send you the proposal by Friday."),
        ],
    ),
    "sabre-pricing": (
        {"Phyllis Vance": "en-us+f2", "David Wallace": "en-us+m3"},
        [
            ("Phyllis Vance", "Hello David, it is Phyllis Vance from Dunder Mifflin. Thanks for making the time."),
            ("David Wallace", "Of course. What is your pricing for paper and toner?"),
            ("Phyllis Vance", "The list price is forty dollars per case, "
                              "and we can offer a discount on a yearly contract."),
            ("David Wallace", "Staples is our incumbent and quoted us less. Our timeline is to sign this quarter."),
            ("Phyllis Vance", "We can beat that quote. Let's schedule a demo next week with your team."),
            ("David Wallace", "Sounds good. Tuesday works for me."),
        ],
    ),
    "wonka-followup": (
        {"Dwight Schrute": "en-us+m1", "Willy Wonka": "en-us+m7"},
        [
            ("Dwight Schrute", "Good morning Mister Wonka, Dwight Schrute from Dunder Mifflin. "
                               "Our calls are recorded for quality."),
            ("Willy Wonka", "Hello Dwight. Jim sent the proposal, and my CFO approved the budget."),
            ("Dwight Schrute", "Excellent. What is your timeline to go live?"),
            ("Willy Wonka", "By the end of next month. The competition cannot deliver that fast."),
            ("Dwight Schrute", "I will send over the contract today, "
                               "and let's set up a meeting with procurement on Monday."),
            ("Willy Wonka", "Perfect. Talk to you then."),
        ],
    ),
}


def run(program: str, *args: str, stdin: bytes = b"") -> bytes:
    """``program``'s standard output; stops the script when it fails."""
    path = shutil.which(program)
    if not path:
        raise SystemExit(f"{program} is not installed (apt-get install espeak-ng ffmpeg).")
    return subprocess.run([path, *args], input=stdin, check=True, capture_output=True).stdout  # noqa: S603


def speak(voice: str, text: str) -> array.array:
    """One turn as 16 kHz mono samples, espeak-ng's leading and trailing silence cut so
    the transcript's times are when the words are heard."""
    wav = run("espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "--stdout", text)
    pcm = run("ffmpeg", "-nostdin", "-v", "error", "-i", "-", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-",
              stdin=wav)
    samples = array.array("h", pcm)
    loud = [i for i, s in enumerate(samples) if abs(s) >= SILENT]
    return samples[loud[0]:loud[-1] + 1] if loud else samples


def timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def make_call(name: str, voices: dict[str, str], turns: list[tuple[str, str]]) -> None:
    audio = array.array("h", bytes(int(LEAD_IN * RATE) * 2))
    cues = []
    for number, (speaker, text) in enumerate(turns, start=1):
        if number > 1:
            audio.extend(array.array("h", bytes(int(GAP * RATE) * 2)))
        start = len(audio) / RATE
        audio.extend(speak(voices[speaker], text))
        cues.append(f"{number}\n{timestamp(start)} --> {timestamp(len(audio) / RATE)}\n{speaker}: {text}\n")
    audio.extend(array.array("h", bytes(int(LEAD_IN * RATE) * 2)))
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "-",
        "-c:a", "libopus", "-b:a", OPUS_BITRATE, "-application", "voip", "-map_metadata", "-1",
        "-fflags", "+bitexact", str(OUT / f"{name}.ogg"), stdin=audio.tobytes())
    (OUT / f"{name}.vtt").write_text("WEBVTT\n\n" + "\n".join(cues))
    (OUT / f"{name}.txt").write_text("".join(f"{text}\n" for _, text in turns))
    print(f"{name}: {len(audio) / RATE:.1f} s, {(OUT / f'{name}.ogg').stat().st_size // 1024} KB")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, (voices, turns) in CALLS.items():
        make_call(name, voices, turns)


if __name__ == "__main__":
    main()
