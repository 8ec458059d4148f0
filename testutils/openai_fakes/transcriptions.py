"""A strict local fake of OpenAI's ``POST /v1/audio/transcriptions`` (the API that
self-hosted Whisper servers speak too), served over HTTPS by the ``https_fake`` server
of :mod:`testutils.servers`, and the ``openai_transcriptions`` fixture that installs it.

It refuses what the real service refuses (each rule cites where it is documented or,
for error bodies the reference does not show, where the service was seen answering
them), answers ``verbose_json`` with a scripted transcript cut to the real length of
the uploaded audio (measured with ffprobe, so it must be audio), records every request
for tests to assert on, and can be told to misbehave: an error status (429 with
Retry-After, 500, 503…), a slow answer, a body that is not a transcription.

    fake = openai_transcriptions            # the fixture
    OpenAITranscriber(fake.url, fake.api_key).transcribe(path)
    fake.fail(429, retry_after="7", times=1)  # the next request only
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import pytest
from werkzeug import Request, Response

PATH = "/v1/audio/transcriptions"
API_KEY = "sk-test-chorus-0123456789abcdef"
# https://platform.openai.com/docs/api-reference/audio/createTranscription ("file: …
# File uploads are limited to 25 MB").
MAX_BYTES = 25 * 1024 * 1024
# Model → whether it can answer verbose_json. createTranscription: "For gpt-4o-transcribe
# and gpt-4o-mini-transcribe, the only supported format is json".
MODELS = {"whisper-1": True, "gpt-4o-transcribe": False, "gpt-4o-mini-transcribe": False}
# createTranscription, response_format: "One of json, text, srt, verbose_json, or vtt".
RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
# createTranscription, timestamp_granularities[]: "Either or both of these options are
# supported: word, or segment".
GRANULARITIES = ("word", "segment")
# createTranscription, file: "in one of these formats: flac, mp3, mp4, mpeg, mpga, m4a,
# ogg, wav, or webm" (the service also takes .oga, as its own error message lists).
EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")

DEFAULT_TRANSCRIPT = (
    (0.0, 4.2, "Hi Willy, this is Jim Halpert from Dunder Mifflin."),
    (4.6, 9.8, "Our biggest challenge is paper for the factory."),
    (10.3, 14.0, "I'll send you the proposal by Friday."),
)


@dataclass
class Received:
    """One request as the fake saw it."""

    authorization: str | None
    content_type: str
    fields: dict[str, list[str]]
    filename: str = ""
    file_content_type: str = ""
    audio: bytes = b""

    @property
    def model(self) -> str | None:
        return (self.fields.get("model") or [None])[0]

    @property
    def response_format(self) -> str | None:
        return (self.fields.get("response_format") or [None])[0]

    @property
    def granularities(self) -> list[str]:
        return self.fields.get("timestamp_granularities[]", [])


@dataclass
class Failure:
    status: int
    body: str
    content_type: str
    headers: dict[str, str]
    times: int | None  # None: every request from now on


def error(status: int, message: str, type_: str = "invalid_request_error", *, param: str | None = None,
          code: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """OpenAI's error body (https://platform.openai.com/docs/guides/error-codes and the
    API reference's "Errors": ``{"error": {"message", "type", "param", "code"}}``)."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def audio_seconds(audio: bytes) -> float | None:
    """The length of ``audio`` as ffprobe reads it; ``None`` when it is not audio. From
    a file: read from a pipe, an MP3 has no duration ffprobe can tell."""
    with tempfile.NamedTemporaryFile() as upload:
        upload.write(audio)
        upload.flush()
        done = subprocess.run([shutil.which("ffprobe") or "ffprobe", "-v", "error",  # noqa: S603
                               "-show_entries", "format=duration", "-of", "default=noprint_wrappers=1:nokey=1",
                               "-i", upload.name], capture_output=True, check=False)
    try:
        return float(done.stdout.decode().strip()) if done.returncode == 0 else None
    except ValueError:
        return None


@dataclass
class FakeTranscriptions:
    server: object
    api_key: str | None = API_KEY  # None: a self-hosted server without authentication
    max_bytes: int = MAX_BYTES
    # (start, end, text) answered for every upload, cut to the upload's length.
    transcript: tuple[tuple[float, float, str], ...] = DEFAULT_TRANSCRIPT
    delay: float = 0.0  # seconds to wait before answering a valid request
    requests: list[Received] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def __post_init__(self):
        self.server.expect_request(PATH, method="POST").respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        """The server's root, as ``TRANSCRIPTION_API_URL`` takes it."""
        return self.server.url_for("/").rstrip("/")

    # --- Misbehaviour -------------------------------------------------------------

    def fail(self, status: int, message: str = "", *, type_: str = "", retry_after: str | None = None,
             times: int | None = None) -> None:
        """Answer ``status`` with OpenAI's error body (the next ``times`` requests, or all).
        Statuses and types of https://platform.openai.com/docs/guides/error-codes: 429
        "Rate limit reached for requests" (rate_limit_error; a ``Retry-After`` header
        when ``retry_after``), 500 "The server had an error while processing your
        request" (server_error), 503 "The engine is currently overloaded"."""
        defaults = {429: ("Rate limit reached for requests. Please try again later.", "rate_limit_error"),
                    500: ("The server had an error while processing your request. Sorry about that!",
                          "server_error"),
                    503: ("The engine is currently overloaded, please try again later.", "server_error")}
        default_message, default_type = defaults.get(status, ("Something went wrong.", "server_error"))
        body = {"error": {"message": message or default_message, "type": type_ or default_type,
                          "param": None, "code": None}}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.failures.append(Failure(status, json.dumps(body), "application/json", headers, times))

    def answer_raw(self, body: str, *, status: int = 200, content_type: str = "application/json",
                   times: int | None = None) -> None:
        """Answer ``body`` as is: a proxy's HTML page, truncated JSON, JSON without segments."""
        self.failures.append(Failure(status, body, content_type, {}, times))

    def _injected(self) -> Response | None:
        if not self.failures:
            return None
        failure = self.failures[0]
        if failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                self.failures.pop(0)
        return Response(failure.body, status=failure.status, content_type=failure.content_type,
                        headers=failure.headers)

    # --- The endpoint ---------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        # https://platform.openai.com/docs/api-reference/authentication: "API keys should
        # be provided via HTTP Bearer authentication"; 401 "Invalid Authentication" /
        # "Incorrect API key provided" (https://platform.openai.com/docs/guides/error-codes).
        # The 401 quotes a masked form of the wrong key, as the service does.
        authorization = request.headers.get("Authorization")
        if self.api_key is not None:
            if not authorization:
                return error(401, "You didn't provide an API key. You need to provide your API key in an "
                                  "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
            given = authorization.removeprefix("Bearer ")
            if not authorization.startswith("Bearer ") or given != self.api_key:
                masked = f"{given[:6]}{'*' * max(0, len(given) - 10)}{given[-4:]}"
                return error(401, f"Incorrect API key provided: {masked}. You can find your API key at "
                                  "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
        # Too large: 413 with this body, as the service answers uploads over 25 MB
        # (seen in github.com/chidiwilliams/buzz/issues/381), before reading the form.
        if (request.content_length or 0) > self.max_bytes:
            return error(413, f"Maximum content size limit ({self.max_bytes}) exceeded "
                              f"({request.content_length} bytes read)", "server_error")
        received = Received(authorization, request.mimetype, {k: request.form.getlist(k) for k in request.form})
        upload = request.files.get("file")
        if upload is not None:
            received.filename, received.file_content_type = upload.filename or "", upload.mimetype
            received.audio = upload.read()
        self.requests.append(received)
        injected = self._injected()
        if injected is not None:
            return injected
        refusal = self._refusal(received, upload is not None)
        if refusal is not None:
            return refusal
        seconds = audio_seconds(received.audio)
        if seconds is None:
            # An upload that is not audio: 400 on the file parameter.
            return error(400, "Audio file might be corrupted or unsupported", param="file", code="invalid_value")
        if self.delay:
            time.sleep(self.delay)
        return self._answer(received, seconds)

    def _refusal(self, received: Received, has_file: bool) -> Response | None:
        """The 400/404 for a request createTranscription does not accept
        (https://platform.openai.com/docs/api-reference/audio/createTranscription)."""
        # The request body is multipart/form-data.
        if received.content_type != "multipart/form-data":
            return error(400, "Invalid Content-Type header, expected multipart/form-data.")
        # file: required.
        if not has_file or not received.audio:
            return error(400, "Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
        # model: required.
        if not received.model:
            return error(400, "Missing required parameter: 'model'.", param="model",
                         code="missing_required_parameter")
        # An unknown model: 404 model_not_found, as OpenAI-compatible services answer
        # (seen in github.com/groq/groq-python/issues/48).
        if received.model not in MODELS:
            return error(404, f"The model `{received.model}` does not exist or you do not have access to it.",
                         code="model_not_found")
        # file: one of the listed formats, told by the file name's extension; the
        # message lists them (seen in github.com/epam/ai-dial-adapter-openai/pull/451).
        if received.filename.rpartition(".")[2].lower() not in EXTENSIONS:
            return error(400, f"Invalid file format. Supported formats: {list(EXTENSIONS)}")
        response_format = received.response_format or "json"  # "Defaults to json"
        if response_format not in RESPONSE_FORMATS:
            return error(400, f"Invalid value: '{response_format}'. Supported values are: "
                              f"{', '.join(RESPONSE_FORMATS)}.", param="response_format", code="invalid_value")
        # gpt-4o-(mini-)transcribe answer json only (message as seen in
        # github.com/Thinline-Dynamic-Solutions/ThinLineRadio/issues/114).
        if response_format == "verbose_json" and not MODELS[received.model]:
            return error(400, f"response_format 'verbose_json' is not compatible with model '{received.model}'. "
                              "Use 'json' or 'text' instead.", param="response_format", code="unsupported_value")
        # timestamp_granularities[]: "response_format must be set verbose_json to use
        # timestamp granularities"; values word and/or segment.
        if received.granularities and response_format != "verbose_json":
            return error(400, "timestamp_granularities requires response_format=verbose_json.",
                         param="timestamp_granularities", code="invalid_value")
        if any(g not in GRANULARITIES for g in received.granularities):
            return error(400, f"Invalid value for timestamp_granularities: {received.granularities}.",
                         param="timestamp_granularities", code="invalid_value")
        return None

    def _answer(self, received: Received, seconds: float) -> Response:
        """The transcript in the asked format. verbose_json is the transcription object of
        https://platform.openai.com/docs/api-reference/audio/verbose-json-object:
        ``task``, ``language``, ``duration``, ``text`` and ``segments[]`` (``id``,
        ``seek``, ``start``, ``end``, ``text``, ``tokens``, ``temperature``,
        ``avg_logprob``, ``compression_ratio``, ``no_speech_prob``); ``words[]`` only
        when asked for word timestamps."""
        said = [(start, min(end, seconds), text) for start, end, text in self.transcript if start < seconds]
        text = " ".join(t for _, _, t in said)
        response_format = received.response_format or "json"
        if response_format == "json":
            return Response(json.dumps({"text": text}), content_type="application/json")
        if response_format != "verbose_json":  # text, srt, vtt: plain text (the fake gives the words only)
            return Response(text, content_type="text/plain")
        body = {
            "task": "transcribe", "language": "english", "duration": round(seconds, 2), "text": text,
            "segments": [
                {"id": i, "seek": 0, "start": start, "end": end, "text": f" {t}", "tokens": [50364 + i],
                 "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 1.3, "no_speech_prob": 0.01}
                for i, (start, end, t) in enumerate(said)
            ],
        }
        if "word" in received.granularities:
            body["words"] = [{"word": w, "start": start, "end": end} for start, end, t in said for w in t.split()]
        return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def openai_transcriptions(https_fake) -> FakeTranscriptions:
    """The fake transcription service on the session's HTTPS fake server (trusted
    through ``REQUESTS_CA_BUNDLE``), fresh for each test."""
    return FakeTranscriptions(https_fake)
