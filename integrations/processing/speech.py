"""Speech-to-text for recordings that came without a transcript (dialer calls, meetings
whose provider made none): one :class:`Transcriber` interface, two engines.

- :class:`OpenAITranscriber` calls an OpenAI-compatible ``POST /v1/audio/transcriptions``
  service (OpenAI itself, or a self-hosted Whisper server speaking the same API),
  configured by ``TRANSCRIPTION_API_URL`` / ``TRANSCRIPTION_API_KEY`` /
  ``TRANSCRIPTION_MODEL``.
- :class:`PocketsphinxTranscriber` is the offline default: it needs no configuration
  and no network (the pocketsphinx wheel ships its US English model), so a fresh
  machine transcribes calls out of the box — far less accurate than Whisper.

Both read any container and codec ffmpeg decodes. Neither can tell speakers apart:
their segments have ``speaker == ""``. Every failure is a
:class:`~integrations.processing.errors.ProcessingError` whose message names the
service and the problem (shown to admins), never the API key or what was said; the
pipeline retries the temporary ones, so an engine makes one attempt per call.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests

from integrations.http import http_session, parse_retry_after
from integrations.processing.errors import ProcessingError
from integrations.processing.transcript import Segment

SAMPLE_RATE = 16000  # Hz, mono, signed 16-bit: what both engines are given
BYTES_PER_SECOND = SAMPLE_RATE * 2
# audio_to_pcm hands the decoder this much audio at a time: memory stays bounded
# (about 1 MB) whatever the length of the call.
CHUNK_SECONDS = 30
# A speech stretch without a pause longer than this is cut into several segments, so
# the decoder's search (which grows with the utterance) stays bounded too.
MAX_UTTERANCE_SECONDS = 60

FFMPEG_MISSING = ("ffmpeg is not installed on this server, so recordings cannot be converted for "
                  "speech-to-text (run `make setup`, or install the Debian package ffmpeg).")


class Transcriber(Protocol):
    """A speech-to-text engine. ``engine`` names it for admins ("pocketsphinx",
    "openai:whisper-1"); ``transcribe`` turns a recording (any format ffmpeg reads)
    into time-ordered segments, ``speaker`` empty when the engine cannot tell."""

    engine: str

    def transcribe(self, audio_path: str) -> list[Segment]: ...


# --- ffmpeg -----------------------------------------------------------------------

def _ffmpeg() -> str:
    """ffmpeg's full path (the Debian package that ``make setup`` installs)."""
    path = shutil.which("ffmpeg")
    if not path:
        raise ProcessingError(FFMPEG_MISSING)
    return path


def _source(path: str) -> str:
    """``path`` as ffmpeg's input, always a local file: ffmpeg would otherwise fetch a
    name like ``http://…`` itself."""
    return "file:" + os.path.abspath(path)


def _undecodable(stderr: bytes, source: str) -> ProcessingError:
    """The permanent error for a file ffmpeg cannot decode, quoting ffmpeg's first
    error line without what changes from run to run: the file's name (a temporary
    path that tells the admin nothing) and the decoder's memory address
    ("[mp3 @ 0x55…] Failed to read frame size" → "[mp3] Failed to read frame size")."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    first = (lines[0] if lines else "ffmpeg stopped without saying why").removeprefix(f"{source}: ")
    if "does not contain any stream" in first:  # a video file without sound, say
        return ProcessingError("The recording has no audio track.", permanent=True)
    first = re.sub(r"^\[(\w+) @ 0x[0-9a-f]+\] ", r"[\1] ", first)
    return ProcessingError(f"The recording could not be decoded as audio: {first[:300]}", permanent=True)


def audio_to_pcm(path: str, *, chunk_seconds: float = CHUNK_SECONDS) -> Iterator[bytes]:
    """The recording at ``path`` as 16 kHz mono signed 16-bit PCM, ``chunk_seconds``
    of audio per chunk (the last one shorter), decoded by an ffmpeg subprocess as it
    is read: the file is never held in memory whole.

    A file ffmpeg cannot decode raises a permanent :class:`ProcessingError` quoting
    ffmpeg's first error line (after the chunks it could decode, if any)."""
    chunk_bytes = max(2, int(chunk_seconds * SAMPLE_RATE) * 2)
    source = _source(path)
    # ffmpeg's messages go to a file, not a pipe: a damaged file can make it print an
    # error per packet, which would fill a pipe nobody reads until the end and stall it.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 (our ffmpeg; the file is one argument)
            [_ffmpeg(), "-nostdin", "-v", "error", "-i", source, "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
             "-f", "s16le", "-"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        try:
            while chunk := process.stdout.read(chunk_bytes):
                yield chunk
            if process.wait() != 0:
                errors.seek(0)
                raise _undecodable(errors.read(4096), source)
        finally:
            if process.poll() is None:  # the reader stopped early
                process.kill()
                process.wait()
            process.stdout.close()


def _convert(path: str, *args: str) -> None:
    """ffmpeg reads ``path`` and writes what ``args`` say; an input it cannot decode is
    a permanent :class:`ProcessingError`."""
    source = _source(path)
    done = subprocess.run([_ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", source, *args],  # noqa: S603
                          stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise _undecodable(done.stderr, source)


# --- Word error rate --------------------------------------------------------------

def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words of ``reference``, on
    lower-cased words without punctuation: the usual measure of speech-to-text
    accuracy (0 is perfect; above 1 when the hypothesis adds many words)."""
    ref, hyp = _words(reference), _words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))  # edit distance of ref[:0] to each hyp prefix
    for i, word in enumerate(ref, start=1):
        current = [i]
        for j, said in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != said)))
        previous = current
    return previous[-1] / len(ref)


# --- Offline engine: pocketsphinx ---------------------------------------------------

_decoder = None
# A pocketsphinx Decoder is one search at a time: the lock guards its creation and
# every use, so threads of one worker take turns (processes each have their own).
_decoder_lock = threading.Lock()


def _shared_decoder():
    """The process's pocketsphinx decoder with the US English acoustic model, language
    model and dictionary that ship inside the pocketsphinx wheel (no download). Built
    once: loading the model takes a noticeable fraction of a second. Call with
    ``_decoder_lock`` held."""
    global _decoder
    if _decoder is None:
        from pocketsphinx import Decoder

        _decoder = Decoder(loglevel="ERROR")
    return _decoder


def _as_sentence(words: str) -> str:
    """pocketsphinx's lower-case words as a sentence ("i'll send it" → "I'll send it."),
    so transcripts read like the other engines' and sentence-based steps find ends."""
    text = re.sub(r"\bi\b", "I", words.strip())
    return text[:1].upper() + text[1:] + "." if text else ""


class _Utterances:
    """Feeds the endpointer's speech to the decoder, one utterance per stretch of speech,
    and collects a :class:`Segment` for each."""

    def __init__(self, decoder, endpointer):
        self.decoder, self.endpointer = decoder, endpointer
        self.segments: list[Segment] = []
        self.open = False
        self.start = 0.0  # seconds
        self.fed = 0  # bytes of this utterance given to the decoder

    def feed(self, speech: bytes | None, was_in_speech: bool) -> None:
        if speech is None:
            return
        if not was_in_speech:
            self.begin(self.endpointer.speech_start)
        self.decoder.process_raw(speech, False, False)
        self.fed += len(speech)
        if not self.endpointer.in_speech:
            self.finish(self.endpointer.speech_end)
        elif self.fed >= MAX_UTTERANCE_SECONDS * BYTES_PER_SECOND:
            # Go on decoding the same stretch of speech as a new utterance.
            self.finish(self.position)
            self.begin(self.position)

    @property
    def position(self) -> float:
        return self.start + self.fed / BYTES_PER_SECOND

    def begin(self, start: float) -> None:
        self.start, self.fed, self.open = start, 0, True
        self.decoder.start_utt()

    def finish(self, end: float) -> None:
        self.decoder.end_utt()
        self.open = False
        hypothesis = self.decoder.hyp()
        text = _as_sentence(hypothesis.hypstr if hypothesis else "")
        if text:
            self.segments.append(Segment("", round(self.start, 2), round(max(end, self.start), 2), text))


class PocketsphinxTranscriber:
    """Offline speech-to-text with CMU pocketsphinx. The audio is streamed from ffmpeg
    in chunks through pocketsphinx's voice activity endpointer; each stretch of speech
    (cut at pauses, and every ``MAX_UTTERANCE_SECONDS`` at most) is decoded as one
    utterance and becomes one :class:`Segment` with its real start and end time."""

    engine = "pocketsphinx"

    def transcribe(self, audio_path: str) -> list[Segment]:
        from pocketsphinx import Endpointer

        endpointer = Endpointer(sample_rate=SAMPLE_RATE)
        frame = endpointer.frame_bytes
        with _decoder_lock:
            decoder = _shared_decoder()
            # Forget what the previous recording taught the decoder (its running
            # cepstral mean): a call's transcript must not depend on which call this
            # worker decoded before it.
            decoder.set_cmn(decoder.config["cmninit"])
            utterances = _Utterances(decoder, endpointer)
            pending = b""
            try:
                for chunk in audio_to_pcm(audio_path):
                    pending += chunk
                    whole = len(pending) - len(pending) % frame
                    for offset in range(0, whole, frame):
                        was_in_speech = endpointer.in_speech
                        utterances.feed(endpointer.process(pending[offset:offset + frame]), was_in_speech)
                    pending = pending[whole:]
                if endpointer.in_speech:
                    # end_stream wants a non-empty last frame; silence closes the stretch.
                    utterances.feed(endpointer.end_stream(pending or bytes(frame)), True)
                if utterances.open:
                    utterances.finish(utterances.position)
            finally:
                if utterances.open:  # a decoding error: leave the shared decoder ready
                    decoder.end_utt()
        return utterances.segments


# --- OpenAI-compatible service --------------------------------------------------------

# https://platform.openai.com/docs/api-reference/audio/createTranscription : "file …
# File uploads are limited to 25 MB"; https://platform.openai.com/docs/guides/speech-to-text
# ("Longer inputs") recommends compressing or splitting larger files.
OPENAI_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
# What is uploaded: 16 kHz mono MP3 at 32 kbps (about 100 minutes in 25 MB). Speech
# recognition loses nothing that matters at this rate, and MP3 is the one format every
# OpenAI-compatible server reads (OpenAI lists flac, mp3, mp4, mpeg, mpga, m4a, ogg,
# wav, webm; some self-hosted servers decode fewer).
UPLOAD_BITRATE = 32_000  # bits per second
UPLOAD_CONTENT_TYPE = "audio/mpeg"
CONNECT_TIMEOUT = 10  # seconds; ``timeout`` is the wait for the answer
ERROR_MAX = 300  # characters of a service's own error message quoted to admins
# OpenAI quotes a masked form of a wrong key in its 401 message ("sk-ab***xyz").
SECRET_LIKE = re.compile(r"\b(?:sk|rk|pk)-[\w*-]+")


def transcriptions_endpoint(url: str) -> str:
    """``POST`` address for a configured ``TRANSCRIPTION_API_URL``. Accepted forms: the
    server's root (``https://api.openai.com``), its API base as OpenAI's SDKs take it
    (``…/v1``), or the full endpoint (``…/v1/audio/transcriptions``); all three give
    ``<root>/v1/audio/transcriptions``."""
    base = url.strip().rstrip("/").removesuffix("/audio/transcriptions").removesuffix("/v1")
    return f"{base}/v1/audio/transcriptions"


class OpenAITranscriber:
    """Speech-to-text through an OpenAI-compatible ``POST /v1/audio/transcriptions``
    (https://platform.openai.com/docs/api-reference/audio/createTranscription).

    The recording is converted with ffmpeg to a small 16 kHz mono MP3; one that is
    still above ``max_upload_bytes`` is split into consecutive pieces sent one after
    the other, whose segment times are shifted by each piece's start. Each call makes
    one attempt per piece, and a piece that fails fails the call: retrying (the whole
    recording) is the pipeline's job, from the :class:`ProcessingError` it raises."""

    def __init__(self, url: str, api_key: str = "", model: str = "whisper-1", timeout: float = 600.0,
                 *, max_upload_bytes: int = OPENAI_MAX_UPLOAD_BYTES):
        self.endpoint = transcriptions_endpoint(url)
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.max_upload_bytes = max_upload_bytes
        self.engine = f"openai:{model}"
        self.service = f"The transcription service at {urlsplit(self.endpoint).netloc}"

    def transcribe(self, audio_path: str) -> list[Segment]:
        with tempfile.TemporaryDirectory(prefix="chorus-stt-") as tmp:
            segments: list[Segment] = []
            for offset, piece in self._pieces(audio_path, Path(tmp)):
                segments += [Segment(s.speaker, round(s.start + offset, 3), round(s.end + offset, 3), s.text)
                             for s in self._request(piece)]
            return segments

    def _pieces(self, audio_path: str, tmp: Path) -> list[tuple[float, Path]]:
        """(start in seconds, file) of what to upload: the whole recording compressed, or
        consecutive pieces of it when that is still too large."""
        compressed = tmp / "audio.mp3"
        _convert(audio_path, "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "libmp3lame",
                 "-b:a", str(UPLOAD_BITRATE), str(compressed))
        if compressed.stat().st_size <= self.max_upload_bytes:
            return [(0.0, compressed)]
        # Pieces at 90% of the limit leave room for MP3 frame overhead and the
        # multipart envelope; the segment muxer cuts between MP3 frames (26 ms) and
        # lists where each piece really starts.
        seconds = max(1.0, self.max_upload_bytes * 8 * 0.9 / UPLOAD_BITRATE)
        listing = tmp / "pieces.csv"
        _convert(str(compressed), "-f", "segment", "-segment_time", f"{seconds:.3f}", "-segment_list",
                 str(listing), "-segment_list_type", "csv", "-c", "copy", str(tmp / "piece%05d.mp3"))
        with listing.open(newline="") as rows:
            return [(float(start), tmp / name) for name, start, _end in csv.reader(rows)]

    def _request(self, piece: Path) -> list[Segment]:
        """One multipart ``POST`` of one file: ``file``, ``model``,
        ``response_format=verbose_json`` and ``timestamp_granularities[]=segment``
        (segment times are only given in verbose_json)."""
        session = http_session(timeout=(CONNECT_TIMEOUT, self.timeout), access_token=self.api_key)
        try:
            with piece.open("rb") as audio:
                response = session.post(
                    self.endpoint,
                    files={"file": (piece.name, audio, UPLOAD_CONTENT_TYPE)},
                    data=[("model", self.model), ("response_format", "verbose_json"),
                          ("timestamp_granularities[]", "segment")])
        except requests.ConnectionError as exc:  # refused, DNS, TLS, connect timeout, dropped
            raise ProcessingError(f"{self.service} could not be reached ({type(exc).__name__}).") from exc
        except requests.Timeout as exc:
            raise ProcessingError(f"{self.service} did not answer within {self.timeout:g} seconds.") from exc
        except requests.RequestException as exc:
            raise ProcessingError(f"{self.service} could not be asked ({type(exc).__name__}).") from exc
        finally:
            session.close()
        if response.status_code != 200:
            raise self._refusal(response)
        return self._segments(response)

    def _redact(self, text: str) -> str:
        if self.api_key:
            text = text.replace(self.api_key, "***")
        return SECRET_LIKE.sub("***", text)

    def _refusal(self, response: requests.Response) -> ProcessingError:
        """The error for a non-200 answer. Temporary: 408, 429 and 5xx (not before
        Retry-After when given); permanent: any other 4xx (bad key, unknown model,
        file too large or refused), quoting the service's own message. Errors come in
        OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``
        (https://platform.openai.com/docs/guides/error-codes)."""
        status = response.status_code
        try:
            detail = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = ""
        detail = " ".join(self._redact(str(detail)).split())[:ERROR_MAX]
        reason = f"{self.service} answered HTTP {status}" + (f": {detail}" if detail else ".")
        if status in (408, 429) or status >= 500:
            header = response.headers.get("Retry-After")
            return ProcessingError(reason, retry_after=parse_retry_after(header) if header else None)
        return ProcessingError(reason, permanent=True)

    def _segments(self, response: requests.Response) -> list[Segment]:
        """Segments of a verbose_json transcription: ``segments[]`` with ``start`` and
        ``end`` in seconds and ``text`` (https://platform.openai.com/docs/api-reference/audio/verbose-json-object).
        Anything else is temporary: a server or proxy answering garbage once may not
        the next time."""
        try:
            body = response.json()
            segments = [Segment("", float(s["start"]), float(s["end"]), " ".join(str(s["text"]).split()))
                        for s in body["segments"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProcessingError(
                f"{self.service} answered with something that is not a verbose_json transcription.") from exc
        return sorted((s for s in segments if s.text), key=lambda s: s.start)


def transcriber_from_settings() -> Transcriber:
    """The configured engine: the OpenAI-compatible service when
    ``TRANSCRIPTION_API_URL`` is set, else the offline pocketsphinx engine."""
    from django.conf import settings

    if settings.TRANSCRIPTION_API_URL:
        return OpenAITranscriber(settings.TRANSCRIPTION_API_URL, settings.TRANSCRIPTION_API_KEY,
                                 settings.TRANSCRIPTION_MODEL, settings.TRANSCRIPTION_TIMEOUT)
    return PocketsphinxTranscriber()
