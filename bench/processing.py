"""Conversation processing benchmarks, one JSON line per measurement.

- ``offline_stt``: the offline speech-to-text engine (pocketsphinx) on each sample
  call of ``console/samples/calls``: its real-time factor (seconds of work per second
  of audio; below 1 is faster than the call lasted) and its word error rate against
  the call's reference words.
- ``pipeline``: engagements processed per minute by one worker (``processing_run_due``)
  for N one-minute calls (default 100) that come with a provider WebVTT transcript,
  on a temporary migrated SQLite database, with the org's default trackers; and the
  queries each engagement costs (listeners included).
- ``tracker_matching``: the org's trackers compiled once, run over transcripts of
  growing length: the time per segment must stay flat (linear matching).

    .venv/bin/python bench/processing.py
    .venv/bin/python bench/processing.py --scenarios offline_stt --clips console/samples/calls/sabre-pricing.ogg
    .venv/bin/python bench/processing.py --scenarios pipeline --calls 500
    .venv/bin/python bench/processing.py --scenarios tracker_matching --segments 1000 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE_CALLS = ROOT / "console" / "samples" / "calls"


def setup_django() -> None:
    """Django on a temporary SQLite database and media root, migrated from scratch."""
    tmp = Path(tempfile.mkdtemp(prefix="processing_bench_"))
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chorus.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _one_minute_vtt(n: int) -> str:
    """A one-minute call: the sample calls' turns, one after the other, until 60 s."""
    from integrations.processing.transcript import segments_from_vtt

    turns = [s for vtt in sorted(SAMPLE_CALLS.glob("*.vtt")) for s in segments_from_vtt(vtt.read_text())]
    cues, at, i = ["WEBVTT", ""], 0.0, n
    while at < 60:
        turn = turns[i % len(turns)]
        length = min(turn.end - turn.start, 60 - at)
        cues += [str(len(cues) // 4 + 1), f"{_stamp(at)} --> {_stamp(at + length)}", f"{turn.speaker}: {turn.text}", ""]
        at, i = at + length + 0.5, i + 1
    return "\n".join(cues)


def _stamp(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"


def pipeline(args: argparse.Namespace) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from chorus import services
    from chorus.models import Engagement, Organization, User
    from integrations.processing.models import EngagementProcessing
    from integrations.processing.services import processing_queue, processing_run_due

    org = services.organization_create(slug=f"bench-{time.time_ns()}", name="Bench", domains=["bench.example"],
                                       package=Organization.Package.ENTERPRISE)
    owner = User.objects.create(org=org, email="rep@bench.example", first_name="Rep")
    now = timezone.now()
    engagements = Engagement.objects.bulk_create([
        Engagement(org=org, kind=Engagement.Kind.RECORDING, title=f"Call {i}", started_at=now, duration_seconds=60,
                   owner=owner, source="bench", external_id=f"bench-{i}") for i in range(args.calls)])
    processing_queue(org=org, engagements=engagements,
                     provider_transcripts={e.pk: _one_minute_vtt(i) for i, e in enumerate(engagements)})
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        counts = processing_run_due(limit=args.calls, budget_seconds=None)
    seconds = time.perf_counter() - started
    ready = EngagementProcessing.objects.filter(org=org, status="ready").count()
    print(json.dumps({"bench": "processing", "scenario": "pipeline", "engagements": args.calls, "ready": ready,
                      "failed": counts["failed"], "seconds": round(seconds, 3),
                      "per_minute": round(args.calls / seconds * 60, 1),
                      "queries_per_engagement": round(len(queries) / args.calls, 1)}))


def tracker_matching(args: argparse.Namespace) -> None:
    from chorus.trackers import DEFAULT_TRACKERS
    from integrations.processing.analysis import TrackerMatcher
    from integrations.processing.transcript import segments_from_vtt

    matcher = TrackerMatcher([(name, name, phrases) for name, phrases in DEFAULT_TRACKERS.items()])
    turns = [s for vtt in sorted(SAMPLE_CALLS.glob("*.vtt")) for s in segments_from_vtt(vtt.read_text())]
    for size in args.segments:
        segments = [turns[i % len(turns)] for i in range(size)]
        started = time.perf_counter()
        hits = matcher.matches(segments)
        seconds = time.perf_counter() - started
        print(json.dumps({"bench": "processing", "scenario": "tracker_matching", "segments": size,
                          "phrases": sum(len(p) for p in DEFAULT_TRACKERS.values()), "hits": len(hits),
                          "seconds": round(seconds, 4), "us_per_segment": round(seconds / size * 1e6, 2)}))


def offline_stt(args: argparse.Namespace) -> None:
    """Transcribes each clip once with the offline engine (after one warm-up clip, so
    the one-time model load is not counted against the first call)."""
    from integrations.processing.speech import PocketsphinxTranscriber, audio_to_pcm, word_error_rate

    engine = PocketsphinxTranscriber()
    engine.transcribe(str(args.clips[0]))  # loads the model
    for clip in args.clips:
        audio_seconds = sum(len(chunk) for chunk in audio_to_pcm(str(clip))) / 32000  # 16 kHz, 16-bit
        started = time.perf_counter()
        segments = engine.transcribe(str(clip))
        seconds = time.perf_counter() - started
        reference = clip.with_suffix(".txt")
        wer = (round(word_error_rate(reference.read_text(), " ".join(s.text for s in segments)), 3)
               if reference.exists() else None)
        print(json.dumps({"bench": "processing", "scenario": "offline_stt", "clip": clip.name,
                          "audio_seconds": round(audio_seconds, 2), "seconds": round(seconds, 3),
                          "real_time_factor": round(seconds / audio_seconds, 3), "wer": wer}), flush=True)


SCENARIOS: dict[str, Callable[[argparse.Namespace], None]] = {
    "offline_stt": offline_stt,
    "pipeline": pipeline,
    "tracker_matching": tracker_matching,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--clips", nargs="+", type=Path, default=sorted(SAMPLE_CALLS.glob("*.ogg")),
                        help="audio files for offline_stt; a .txt of the same name holds the reference words")
    parser.add_argument("--calls", type=int, default=100, help="one-minute calls for the pipeline scenario")
    parser.add_argument("--segments", nargs="+", type=int, default=[1000, 10000, 100000],
                        help="transcript lengths (speaker turns) for tracker_matching")
    args = parser.parse_args()
    setup_django()
    for name in args.scenarios:
        SCENARIOS[name](args)


if __name__ == "__main__":
    main()
