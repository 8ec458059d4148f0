"""Speech-to-text: the offline pocketsphinx engine on a real sample call, and the
OpenAI-compatible engine against a strict local fake of ``/v1/audio/transcriptions``
(the request it sends, and every way the service can fail)."""

import json
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from integrations.processing import speech
from integrations.processing.errors import ProcessingError
from integrations.processing.speech import (
    FFMPEG_MISSING,
    OpenAITranscriber,
    PocketsphinxTranscriber,
    audio_to_pcm,
    transcriber_from_settings,
    transcriptions_endpoint,
    word_error_rate,
)
from integrations.processing.transcript import segments_from_vtt
from testutils.openai_fakes.transcriptions import API_KEY, DEFAULT_TRANSCRIPT, PATH

CALLS = Path(__file__).resolve().parents[3] / "console" / "samples" / "calls"
CLIP = CALLS / "wonka-discovery.ogg"
# pocketsphinx's word error rate on this clip is 0.65 (see bench/processing.py); a
# regression in how audio reaches the decoder (wrong rate, byte order, lost chunks)
# sends it to 0.9-1.0.
MAX_WER = 0.75


def probe(path: Path) -> dict:
    """ffprobe's view of an audio file: its first stream and its length."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels:"
                          "format=duration", "-of", "json", str(path)], capture_output=True, check=True).stdout
    info = json.loads(out)
    return {**info["streams"][0], "duration": float(info["format"]["duration"])}


def probe_upload(audio: bytes, tmp_path: Path) -> dict:
    path = tmp_path / "uploaded"
    path.write_bytes(audio)
    return probe(path)


@pytest.fixture(scope="module")
def clip_seconds() -> float:
    return probe(CLIP)["duration"]


@pytest.fixture
def not_audio(tmp_path):
    path = tmp_path / "recording.mp3"
    path.write_text("<html><body>Access denied</body></html>")
    return path


# --- Word error rate and building blocks ----------------------------------------------


@pytest.mark.parametrize(("reference", "hypothesis", "expected"), [
    ("I'll send you the proposal", "i'll send you the proposal", 0.0),  # case and punctuation aside
    ("send the proposal by friday", "send a proposal by friday", 0.2),  # one substitution
    ("send the proposal by friday", "send proposal by friday", 0.2),  # one deletion
    ("send the proposal", "send the new proposal today", 2 / 3),  # two insertions
    ("budget", "", 1.0),
    ("", "", 0.0),
    ("", "noise", 1.0),
])
def test_word_error_rate(reference, hypothesis, expected):
    assert word_error_rate(reference, hypothesis) == pytest.approx(expected)


@pytest.mark.parametrize("url", ["https://stt.example", "https://stt.example/", "https://stt.example/v1",
                                 "https://stt.example/v1/", "https://stt.example/v1/audio/transcriptions"])
def test_endpoint_from_root_api_base_or_full_address(url):
    assert transcriptions_endpoint(url) == "https://stt.example/v1/audio/transcriptions"


def test_audio_to_pcm_streams_16khz_mono_in_bounded_chunks(clip_seconds):
    chunks = list(audio_to_pcm(str(CLIP), chunk_seconds=10))
    assert [len(c) for c in chunks[:-1]] == [10 * 16000 * 2] * 3  # 16-bit samples
    assert 0 < len(chunks[-1]) <= 10 * 16000 * 2
    assert sum(len(c) for c in chunks) / 32000 == pytest.approx(clip_seconds, abs=0.1)
    assert any(chunks[0][i] for i in range(0, len(chunks[0]), 2))  # not silence


def test_a_file_that_is_not_audio_is_refused_for_good(not_audio):
    with pytest.raises(ProcessingError) as caught:
        list(audio_to_pcm(str(not_audio)))
    assert caught.value.permanent
    # ffmpeg's first error line, without the decoder's address or the file's path.
    assert str(caught.value).startswith("The recording could not be decoded as audio: "
                                        "[mp3] Failed to read frame size: Could not seek to ")


def test_a_file_of_unknown_kind_is_refused_with_ffmpegs_reason(tmp_path):
    path = tmp_path / "recording"
    path.write_bytes(b"%PDF-1.7 not a recording")
    with pytest.raises(ProcessingError) as caught:
        list(audio_to_pcm(str(path)))
    assert caught.value.permanent
    assert str(caught.value) == ("The recording could not be decoded as audio: "
                                 "Invalid data found when processing input")


def test_a_video_without_sound_has_no_audio_track(tmp_path):
    video = tmp_path / "screen-share.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x48", str(video)],
                   check=True)
    with pytest.raises(ProcessingError) as caught:
        list(audio_to_pcm(str(video)))
    assert (str(caught.value), caught.value.permanent) == ("The recording has no audio track.", True)


def test_missing_ffmpeg_is_said_and_can_be_retried(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProcessingError) as caught:
        list(audio_to_pcm(str(CLIP)))
    assert str(caught.value) == FFMPEG_MISSING
    assert not caught.value.permanent


def test_engine_from_settings(settings):
    settings.TRANSCRIPTION_API_URL = ""
    assert transcriber_from_settings().engine == "pocketsphinx"
    settings.TRANSCRIPTION_API_URL = "https://whisper.internal:9000/v1"
    settings.TRANSCRIPTION_API_KEY = "sk-x"
    settings.TRANSCRIPTION_MODEL = "whisper-large-v3"
    settings.TRANSCRIPTION_TIMEOUT = 120.0
    engine = transcriber_from_settings()
    assert isinstance(engine, OpenAITranscriber)
    assert (engine.engine, engine.endpoint, engine.api_key, engine.timeout) == (
        "openai:whisper-large-v3", "https://whisper.internal:9000/v1/audio/transcriptions", "sk-x", 120.0)


# --- Offline engine ---------------------------------------------------------------------


def test_offline_engine_transcribes_a_real_call():
    segments = PocketsphinxTranscriber().transcribe(str(CLIP))
    turns = segments_from_vtt(CLIP.with_suffix(".vtt").read_text())

    # One segment per turn of the call (the turns are separated by 0.6 s pauses), each
    # within a few frames of when the turn was really said.
    assert len(segments) == len(turns) == 7
    for segment, turn in zip(segments, turns, strict=True):
        assert segment.speaker == ""
        assert segment.start == pytest.approx(turn.start, abs=0.5)
        assert segment.end == pytest.approx(turn.end, abs=0.5)
        assert segment.text[0].isupper() and segment.text.endswith(".")
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:], strict=False))
    wer = word_error_rate(CLIP.with_suffix(".txt").read_text(), " ".join(s.text for s in segments))
    assert wer < MAX_WER


def test_offline_engine_cuts_long_speech_and_forgets_the_previous_call(monkeypatch, tmp_path):
    first_turn = tmp_path / "turn.wav"  # 0.5-6.6 s of the clip: one stretch of speech
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(CLIP), "-t", "7", str(first_turn)], check=True)
    engine = PocketsphinxTranscriber()
    whole = engine.transcribe(str(first_turn))
    assert len(whole) == 1

    monkeypatch.setattr(speech, "MAX_UTTERANCE_SECONDS", 2)
    cut = engine.transcribe(str(first_turn))
    assert len(cut) == 3
    assert [round(s.end - s.start, 1) for s in cut[:-1]] == [2.0, 2.0]
    assert all(a.end == b.start for a, b in zip(cut, cut[1:], strict=False))  # contiguous
    assert cut[0].start == whole[0].start
    assert cut[-1].end == pytest.approx(whole[0].end, abs=0.3)  # a last sliver without words makes no segment

    monkeypatch.setattr(speech, "MAX_UTTERANCE_SECONDS", 60)
    assert engine.transcribe(str(first_turn)) == whole  # the same words after other audio


def test_offline_engine_refuses_a_file_that_is_not_audio(not_audio):
    with pytest.raises(ProcessingError) as caught:
        PocketsphinxTranscriber().transcribe(str(not_audio))
    assert caught.value.permanent
    assert "could not be decoded as audio" in str(caught.value)


# --- OpenAI-compatible engine ----------------------------------------------------------------


def engine_for(fake, **kwargs) -> OpenAITranscriber:
    kwargs.setdefault("api_key", fake.api_key or "")
    return OpenAITranscriber(fake.url, kwargs.pop("api_key"), kwargs.pop("model", "whisper-1"),
                             kwargs.pop("timeout", 10.0), **kwargs)


def failure(fake, **kwargs) -> ProcessingError:
    with pytest.raises(ProcessingError) as caught:
        engine_for(fake, **kwargs).transcribe(str(CLIP))
    error = caught.value
    assert str(error).startswith(f"The transcription service at {fake.url.removeprefix('https://')} ")
    assert API_KEY not in str(error)
    return error


def test_openai_engine_sends_the_documented_request_and_reads_verbose_json(openai_transcriptions, tmp_path,
                                                                          clip_seconds):
    fake = openai_transcriptions
    engine = engine_for(fake)
    segments = engine.transcribe(str(CLIP))

    assert engine.engine == "openai:whisper-1"
    assert [(s.speaker, s.start, s.end, s.text) for s in segments] == [("", *row) for row in DEFAULT_TRANSCRIPT]
    [sent] = fake.requests
    assert sent.authorization == f"Bearer {API_KEY}"
    assert sent.content_type == "multipart/form-data"
    assert sent.fields == {"model": ["whisper-1"], "response_format": ["verbose_json"],
                           "timestamp_granularities[]": ["segment"]}
    assert (sent.filename, sent.file_content_type) == ("audio.mp3", "audio/mpeg")
    # The whole call, as a small 16 kHz mono MP3.
    uploaded = probe_upload(sent.audio, tmp_path)
    assert (uploaded["codec_name"], uploaded["sample_rate"], uploaded["channels"]) == ("mp3", "16000", 1)
    assert uploaded["duration"] == pytest.approx(clip_seconds, abs=0.2)
    assert len(sent.audio) < CLIP.stat().st_size * 2 < 300_000


def test_openai_engine_without_a_key_for_a_self_hosted_server(openai_transcriptions):
    fake = openai_transcriptions
    fake.api_key = None
    engine = OpenAITranscriber(f"{fake.url}/v1/", "", "whisper-1", 10.0)
    assert [s.text for s in engine.transcribe(str(CLIP))] == [row[2] for row in DEFAULT_TRANSCRIPT]
    assert fake.requests[0].authorization is None


def test_openai_engine_splits_a_recording_above_the_upload_limit(openai_transcriptions, tmp_path, clip_seconds):
    fake = openai_transcriptions
    fake.max_bytes = 40_000
    fake.transcript = ((0.5, 1.5, "Piece."),)
    segments = engine_for(fake, max_upload_bytes=40_000).transcribe(str(CLIP))

    # 40 kB at 32 kbit/s, 90% of it: pieces of 9 s, each answered with times from its own start.
    assert len(fake.requests) == 4
    assert all(len(r.audio) <= 40_000 for r in fake.requests)
    uploaded = sum(probe_upload(r.audio, tmp_path)["duration"] for r in fake.requests)
    assert uploaded == pytest.approx(clip_seconds, abs=0.3)
    assert [s.start for s in segments] == pytest.approx([0.5, 9.5, 18.5, 27.5], abs=0.1)
    assert [s.end - s.start for s in segments] == pytest.approx([1.0] * 4, abs=0.01)


@pytest.mark.parametrize(("change", "status", "says"), [
    ({"api_key": ""}, 401, "HTTP 401: You didn't provide an API key."),
    ({"api_key": "sk-wrong-key-0000000000001234"}, 401, "HTTP 401: Incorrect API key provided: ***. "),
    ({"model": "whisper-2"}, 404, "HTTP 404: The model `whisper-2` does not exist or you do not have access to it."),
    ({"model": "gpt-4o-transcribe"}, 400, "HTTP 400: response_format 'verbose_json' is not compatible with model"),
])
def test_openai_engine_refusals_are_permanent_with_the_services_reason(openai_transcriptions, change, status, says):
    error = failure(openai_transcriptions, **change)
    assert error.permanent and error.retry_after is None
    assert says in str(error)
    assert "sk-wro" not in str(error)  # not even the masked key the service quotes back


def test_openai_engine_upload_too_large_for_the_service(openai_transcriptions):
    openai_transcriptions.max_bytes = 10_000  # a server with a lower limit than ours
    error = failure(openai_transcriptions)
    assert error.permanent
    assert "HTTP 413: Maximum content size limit (10000) exceeded" in str(error)


@pytest.mark.parametrize(("status", "retry_after", "waits", "says"), [
    (429, "7", 7.0, "HTTP 429: Rate limit reached for requests."),
    (429, None, None, "HTTP 429: Rate limit reached for requests."),
    (500, None, None, "HTTP 500: The server had an error while processing your request."),
    (503, "30", 30.0, "HTTP 503: The engine is currently overloaded"),
])
def test_openai_engine_busy_or_broken_service_is_temporary(openai_transcriptions, status, retry_after, waits,
                                                           says):
    openai_transcriptions.fail(status, retry_after=retry_after)
    error = failure(openai_transcriptions)
    assert not error.permanent
    assert error.retry_after == waits
    assert says in str(error)
    assert len(openai_transcriptions.requests) == 1  # one attempt: the pipeline retries


def test_openai_engine_recovers_once_the_service_does(openai_transcriptions):
    openai_transcriptions.fail(503, times=1)
    failure(openai_transcriptions)
    assert len(engine_for(openai_transcriptions).transcribe(str(CLIP))) == len(DEFAULT_TRANSCRIPT)


def test_openai_engine_timeout_is_temporary(openai_transcriptions):
    openai_transcriptions.delay = 1.0
    error = failure(openai_transcriptions, timeout=0.3)
    assert not error.permanent
    assert str(error).endswith("did not answer within 0.3 seconds.")


def test_openai_engine_unreachable_service_is_temporary():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProcessingError) as caught:
        OpenAITranscriber(f"http://127.0.0.1:{port}", "", "whisper-1", 5.0).transcribe(str(CLIP))
    assert not caught.value.permanent
    assert str(caught.value) == f"The transcription service at 127.0.0.1:{port} could not be reached (ConnectionError)."


@pytest.mark.parametrize(("body", "content_type"), [
    ('{"segments": [{"start": 0.0, "end": 1.0, "te', "application/json"),  # cut short
    ("<html><body>502 Bad Gateway</body></html>", "text/html"),  # a proxy's page with 200
    ('{"text": "Hi Willy."}', "application/json"),  # json, not verbose_json
    ('{"text": "x", "segments": [{"start": "soon", "end": 1.0, "text": "x"}]}', "application/json"),
    ('["not", "an", "object"]', "application/json"),
])
def test_openai_engine_answer_that_is_not_a_transcription_is_temporary(openai_transcriptions, body, content_type):
    openai_transcriptions.answer_raw(body, content_type=content_type)
    error = failure(openai_transcriptions)
    assert not error.permanent
    assert str(error).endswith("answered with something that is not a verbose_json transcription.")


def test_openai_engine_refuses_a_file_that_is_not_audio_without_sending_it(openai_transcriptions, not_audio):
    with pytest.raises(ProcessingError) as caught:
        engine_for(openai_transcriptions).transcribe(str(not_audio))
    assert caught.value.permanent
    assert "could not be decoded as audio" in str(caught.value)
    assert openai_transcriptions.requests == []


# --- The fake is as strict as the service ------------------------------------------------------


@pytest.mark.parametrize(("data", "files", "status", "says"), [
    ({"model": "whisper-1"}, None, 400, "Missing required parameter: 'file'."),
    ({}, {"file": ("a.mp3", b"x")}, 400, "Missing required parameter: 'model'."),
    ({"model": "whisper-1"}, {"file": ("a.aiff", b"x")}, 400, "Invalid file format."),
    ({"model": "whisper-1", "response_format": "xml"}, {"file": ("a.mp3", b"x")}, 400, "Invalid value: 'xml'."),
    ({"model": "whisper-1", "timestamp_granularities[]": "segment"}, {"file": ("a.mp3", b"x")}, 400,
     "timestamp_granularities requires response_format=verbose_json."),
    ({"model": "whisper-1", "response_format": "verbose_json"}, {"file": ("a.mp3", b"not audio")}, 400,
     "Audio file might be corrupted or unsupported"),
])
def test_fake_refuses_what_the_service_refuses(openai_transcriptions, data, files, status, says):
    response = requests.post(f"{openai_transcriptions.url}{PATH}", data=data, files=files or {"x": ("x", b"")},
                             headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
    assert response.status_code == status
    assert response.json()["error"]["message"].startswith(says)
