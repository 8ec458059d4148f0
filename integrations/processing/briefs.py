"""Post-meeting briefs: a meeting summary and action items, written by one of the
:class:`BriefWriter` engines and stored with the engine's name.

The seed: "We cannot generate Meeting Summary or Action Items for meetings less than
10 minutes" (and briefs are for Enterprise packages: the caller checks that).

Two engines: :class:`ExtractiveBriefWriter` (offline, the default) and
:class:`ChatBriefWriter` (any OpenAI-compatible ``POST /v1/chat/completions``);
:func:`brief_writer_from_settings` picks one from ``BRIEF_API_URL``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from integrations.http import http_session, parse_retry_after
from integrations.processing.analysis import NextStep
from integrations.processing.errors import ProcessingError
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


# --- The OpenAI-compatible engine -----------------------------------------------------------
#
# API reference: "Create chat completion", https://platform.openai.com/docs/api-reference/chat/create
# (request: model, messages with roles, temperature, response_format) and "The chat completion
# object", https://platform.openai.com/docs/api-reference/chat/object (choices[].message.content,
# finish_reason, usage). JSON mode: https://platform.openai.com/docs/guides/structured-outputs
# ("json_object" makes the answer valid JSON, but "you must also instruct the model to produce
# JSON yourself via a system or user message", and content may be cut off when finish_reason is
# "length"). Errors: https://developers.openai.com/docs/guides/error-codes (401 key, 429 rate limit
# or quota, 500/503 server) with the body {"error": {"message", "type", "param", "code"}}.

TRANSCRIPT_BUDGET = 48_000  # characters of transcript lines sent (~12k tokens: fits 16k-context models)
SUMMARY_MAX_CHARS = 2_000
ACTION_ITEM_MAX_CHARS = 300
SERVER_MESSAGE_MAX = 200  # characters of the server's own error message kept in a reason
PERMANENT_STATUSES = {400, 401, 403, 404, 413, 422}  # the same request can only fail the same way

SYSTEM_PROMPT = """You write the brief Chorus shows after a sales meeting, from its transcript.
Answer with one JSON object and nothing else, of this form:
{"summary": "...", "action_items": [{"text": "...", "speaker": "..."}]}
- "summary": 3 to 5 sentences of plain text: what the meeting was about, what the customer needs or \
worries about, and what was decided. Write in the language of the meeting.
- "action_items": what someone in the meeting committed to do after it, most important first, at most \
10. "text" is one short sentence ("Send Marcus the formal quote"); "speaker" is the name of the person \
who committed, written exactly as in the transcript, or "" when it is not clear. An empty list when \
nobody committed to anything.
Use only what the transcript says: no invented names, numbers or dates. Each transcript line is \
"Speaker [mm:ss]: words"."""


def chat_completions_url(url: str) -> str:
    """The endpoint for ``BRIEF_API_URL``: the server's base address with or without the
    ``/v1`` (``https://api.openai.com`` and ``https://api.openai.com/v1`` both work, as
    do self-hosted servers documented either way), or the full ``…/chat/completions``
    address for servers that mount the API elsewhere."""
    base = url.strip().rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return f"{base}/chat/completions"
    return f"{base}/v1/chat/completions"


def _clock(seconds: float) -> str:
    total = max(0, int(seconds))
    return f"{total // 60:02d}:{total % 60:02d}"


def _line(speaker: str, at: float, text: str) -> str:
    said = " ".join(text.split())
    return f"{speaker} [{_clock(at)}]: {said}" if speaker else f"[{_clock(at)}]: {said}"


def transcript_lines(segments: Sequence[Segment], *, budget: int = TRANSCRIPT_BUDGET) -> tuple[list[str], bool]:
    """The transcript as "Speaker [mm:ss]: words" lines, at most ``budget`` characters.
    A longer meeting keeps its beginning (agenda, goals) and its end (decisions, next
    steps) — half the budget each — with one line in between saying what was left
    out. Returns the lines and whether anything was."""
    lines = [_line(s.speaker, s.start, s.text) for s in segments if s.text.strip()]
    if sum(len(line) + 1 for line in lines) <= budget:
        return lines, False
    half = budget // 2 - 60  # room for the marker line
    head: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > half:
            break
        head.append(line)
        used += len(line) + 1
    tail: list[str] = []
    used = 0
    for line in reversed(lines[len(head):]):
        if used + len(line) + 1 > half:
            break
        tail.append(line)
        used += len(line) + 1
    tail.reverse()
    if not head:  # one turn longer than half the budget: keep its beginning
        head = [clip_around(lines[0], 0, 0, limit=half)]
    if not tail:  # …and the end of the last one
        last = lines[-1]
        tail = [clip_around(last, len(last), len(last), limit=half)]
    left_out = len(lines) - len(head) - len(tail)
    marker = f"[… {left_out} turns from the middle of the meeting left out …]" if left_out > 0 else "[…]"
    return [*head, marker, *tail], True


class ChatBriefWriter:
    """A brief from any OpenAI-compatible chat model (OpenAI, Azure's /v1 endpoint, vLLM,
    llama.cpp server, Ollama…): one ``POST /v1/chat/completions`` per brief in JSON mode at
    temperature 0, asking for ``{"summary": …, "action_items": [{"text", "speaker"}]}``.

    One request per :meth:`write`; trying again is the processing pipeline's job, told by
    the :class:`ProcessingError` raised: temporary (a timeout, no connection, 429 with its
    ``Retry-After``, 5xx, an answer that is not the JSON object asked for) or permanent
    (400/401/403/404/413/422: a refused key or model — trying again cannot help). The
    reason names the service and the HTTP status and keeps the server's own message
    (keys it echoes are masked), never the key or what was said.

    The answer is checked, not trusted: a wrong type or an empty summary is refused;
    an over-long summary or item is clipped, items past the tenth are dropped, and a
    speaker who is not one of the transcript's becomes "" (the rest of the brief is
    still good)."""

    def __init__(self, url: str, api_key: str = "", model: str = "gpt-4o-mini", timeout: float = 120.0,
                 *, budget: int = TRANSCRIPT_BUDGET):
        self.endpoint = chat_completions_url(url)
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.budget = budget
        self.engine = f"openai:{model}"
        self.where = urlsplit(self.endpoint).netloc or url

    # -- the request -------------------------------------------------------------------------

    def request_body(self, *, title: str, segments: Sequence[Segment], next_steps: Sequence[NextStep]) -> dict:
        lines, trimmed = transcript_lines(segments, budget=self.budget)
        speakers = list(dict.fromkeys(s.speaker for s in segments if s.speaker))
        parts = [f"Meeting title: {title or '(untitled)'}",
                 f"Speakers: {', '.join(speakers) if speakers else '(not named)'}"]
        if next_steps:
            parts.append("Commitments found by keyword (hints; may be incomplete):\n"
                         + "\n".join(_line(n.speaker, n.at_seconds, n.text) for n in next_steps[:MAX_ACTION_ITEMS]))
        if trimmed:
            parts.append("The meeting is long: the middle of the transcript is left out where marked.")
        parts.append("Transcript:\n" + "\n".join(lines))
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": "\n\n".join(parts)},
            ],
            "response_format": {"type": "json_object"},
            "temperature": 0,
        }

    def write(self, *, title: str, segments: Sequence[Segment], next_steps: Sequence[NextStep]) -> Brief:
        body = self.request_body(title=title, segments=segments, next_steps=next_steps)
        session = http_session(timeout=(min(10.0, self.timeout), self.timeout), access_token=self.api_key)
        try:
            response = session.post(self.endpoint, json=body)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            raise ProcessingError(f"BRIEF_API_URL is not a web address Chorus can call ({self.where}).",
                                  permanent=True) from exc
        except requests.Timeout as exc:
            raise ProcessingError(
                f"The brief service at {self.where} did not answer within {self.timeout:g} seconds.") from exc
        except requests.RequestException as exc:
            # Refused, reset or dropped: writing a brief changes nothing there, so trying again is safe.
            raise ProcessingError(f"The connection to the brief service at {self.where} failed.") from exc
        finally:
            session.close()
        if response.status_code != 200:
            raise self._refusal(response)
        speakers = {s.speaker for s in segments if s.speaker}
        return Brief(**self._parse(response, speakers=speakers), engine=self.engine)

    # -- the answer --------------------------------------------------------------------------

    def _server_message(self, response: requests.Response) -> str:
        """The server's own words: OpenAI's ``error.message``, or what other compatible
        servers send (``error`` as a string, ``message``, FastAPI's ``detail``)."""
        try:
            data = response.json()
        except ValueError:
            return ""
        text: Any = ""
        if isinstance(data, dict):
            error = data.get("error")
            text = error.get("message") if isinstance(error, dict) else error
            text = text or data.get("message") or data.get("detail") or ""
        if not isinstance(text, str):
            return ""
        if self.api_key:
            text = text.replace(self.api_key, "[key]")
        text = re.sub(r"\bsk-[\w*…-]+", "[key]", text)  # OpenAI's 401 echoes a masked key
        return clip_around(" ".join(text.split()), 0, 0, limit=SERVER_MESSAGE_MAX)

    def _refusal(self, response: requests.Response) -> ProcessingError:
        status = response.status_code
        said = self._server_message(response)
        detail = f"HTTP {status}: {said}" if said else f"HTTP {status}"
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            return ProcessingError(f"The brief service at {self.where} is rate limiting Chorus ({detail}).",
                                   retry_after=wait)
        if status in PERMANENT_STATUSES:
            hint = {401: " Check BRIEF_API_KEY.", 403: " Check BRIEF_API_KEY.",
                    404: " Check BRIEF_MODEL and BRIEF_API_URL."}.get(status, "")
            return ProcessingError(f"The brief service at {self.where} refused the request ({detail}).{hint}",
                                   permanent=True)
        retry_after = parse_retry_after(response.headers["Retry-After"]) if "Retry-After" in response.headers \
            else None
        return ProcessingError(f"The brief service at {self.where} failed ({detail}).", retry_after=retry_after)

    def _bad_answer(self, problem: str) -> ProcessingError:
        return ProcessingError(f"The brief service at {self.where} answered with {problem}.")

    def _parse(self, response: requests.Response, *, speakers: set[str]) -> dict:
        try:
            data = response.json()
        except ValueError:
            raise self._bad_answer("something that is not JSON (HTTP 200)") from None
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise self._bad_answer("no completion (no choices[0].message)") from None
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        if finish == "content_filter":
            # The same transcript meets the same filter: trying again cannot help.
            raise ProcessingError(f"The brief service at {self.where} withheld the brief (its content filter).",
                                  permanent=True)
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise self._bad_answer("an empty completion")
        if finish == "length":
            raise self._bad_answer("a brief cut off at the model's length limit (finish_reason \"length\")")
        return self._brief_fields(content, speakers=speakers)

    def _brief_fields(self, content: str, *, speakers: set[str]) -> dict:
        text = content.strip()
        fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S)  # servers that ignore JSON mode
        try:
            answer = json.loads(fenced.group(1) if fenced else text)
        except ValueError:
            raise self._bad_answer("a brief that is not JSON") from None
        if not isinstance(answer, dict):
            raise self._bad_answer("JSON that is not an object")
        summary = answer.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise self._bad_answer("a brief without a summary")
        raw_items = answer.get("action_items", [])
        if raw_items is None:
            raw_items = []
        if not isinstance(raw_items, list):
            raise self._bad_answer("action_items that are not a list")
        canonical = {" ".join(s.split()).casefold(): s for s in speakers}
        items: list[ActionItem] = []
        seen: set[str] = set()
        for raw in raw_items:
            if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
                raise self._bad_answer("an action item without text")
            speaker = raw.get("speaker") or ""
            if not isinstance(speaker, str):
                raise self._bad_answer("an action item whose speaker is not a name")
            item_text = clip_around(" ".join(raw["text"].split()), 0, 0, limit=ACTION_ITEM_MAX_CHARS)
            if not item_text or item_text.casefold() in seen:
                continue
            seen.add(item_text.casefold())
            items.append(ActionItem(item_text, canonical.get(" ".join(speaker.split()).casefold(), "")))
            if len(items) == MAX_ACTION_ITEMS:
                break
        summary = "\n".join(" ".join(line.split()) for line in summary.strip().splitlines() if line.strip())
        return {"summary": clip_around(summary, 0, 0, limit=SUMMARY_MAX_CHARS), "action_items": items}


def brief_writer_from_settings() -> BriefWriter:
    """The engine the settings name: :class:`ChatBriefWriter` when ``BRIEF_API_URL`` is
    set, else the offline :class:`ExtractiveBriefWriter`."""
    from django.conf import settings

    if settings.BRIEF_API_URL:
        return ChatBriefWriter(settings.BRIEF_API_URL, settings.BRIEF_API_KEY, settings.BRIEF_MODEL,
                               settings.BRIEF_TIMEOUT)
    return ExtractiveBriefWriter()
