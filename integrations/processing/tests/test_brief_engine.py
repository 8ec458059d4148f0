"""The OpenAI-compatible brief engine against a strict local chat server: the exact
request the API receives, what is made of its answer, and how each failure is reported
(one request per write: trying again is the pipeline's job, told by the error)."""

import json
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from integrations.processing.analysis import NextStep
from integrations.processing.briefs import (
    ActionItem,
    BriefWriter,
    ChatBriefWriter,
    ExtractiveBriefWriter,
    brief_writer_from_settings,
    chat_completions_url,
    transcript_lines,
)
from integrations.processing.errors import ProcessingError
from integrations.processing.transcript import Segment
from testutils.openai_fakes.chat import API_KEY, DEFAULT_BRIEF

TITLE = "Acme discovery: call coaching and forecasting"
CALL = [
    Segment("Dana Whitfield", 5.0, 11.0, "So the agenda today is   how your team reviews calls."),
    Segment("Marcus Lee", 12.0, 20.5, "Our forecast breaks every quarter, honestly."),
    Segment("Dana Whitfield", 65.2, 70.0, "I can send over a formal quote after the call."),
    Segment("", 3725.0, 3730.0, "Thanks, bye."),
]
STEPS = [NextStep("I can send over a formal quote after the call.", "Dana Whitfield", 65.2)]
SECRET_WORDS = "forecast"  # said in the call: never in an error an admin sees


def writer(fake, **kwargs):
    options = {"api_key": API_KEY, "model": "gpt-4o-mini", "timeout": 5.0} | kwargs
    return ChatBriefWriter(fake.url, options.pop("api_key"), options.pop("model"), options.pop("timeout"), **options)


def write(w, segments=CALL):
    return w.write(title=TITLE, segments=segments, next_steps=STEPS)


def failure(w, segments=CALL) -> ProcessingError:
    with pytest.raises(ProcessingError) as caught:
        write(w, segments)
    error = caught.value
    assert API_KEY not in str(error) and "sk-" not in str(error)
    assert SECRET_WORDS not in str(error).lower()
    return error


# --- The request ------------------------------------------------------------------------------


def test_the_request_the_api_receives(chat_fake):
    brief = write(writer(chat_fake))

    assert len(chat_fake.requests) == 1
    sent = chat_fake.last
    assert (sent["method"], sent["path"]) == ("POST", "/v1/chat/completions")
    assert sent["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["User-Agent"] == "Chorus-Integrations/1.0"
    body = sent["body"]
    assert set(body) == {"model", "messages", "response_format", "temperature"}
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0
    system, user = body["messages"]
    assert system["role"] == "system"
    assert '{"summary": "...", "action_items": [{"text": "...", "speaker": "..."}]}' in system["content"]
    assert user["role"] == "user"
    assert user["content"] == (
        f"Meeting title: {TITLE}\n\n"
        "Speakers: Dana Whitfield, Marcus Lee\n\n"
        "Commitments found by keyword (hints; may be incomplete):\n"
        "Dana Whitfield [01:05]: I can send over a formal quote after the call.\n\n"
        "Transcript:\n"
        "Dana Whitfield [00:05]: So the agenda today is how your team reviews calls.\n"
        "Marcus Lee [00:12]: Our forecast breaks every quarter, honestly.\n"
        "Dana Whitfield [01:05]: I can send over a formal quote after the call.\n"
        "[62:05]: Thanks, bye."
    )
    assert brief.engine == "openai:gpt-4o-mini"


def test_the_answer_becomes_the_brief(chat_fake):
    brief = write(writer(chat_fake))
    assert brief.summary == DEFAULT_BRIEF["summary"]
    assert brief.action_items == [ActionItem("Send the formal quote after the call.", "Dana Whitfield"),
                                  ActionItem("Check Priya's availability for the demo.", "Marcus Lee")]


def test_the_chat_writer_is_a_brief_writer(chat_fake):
    engine: BriefWriter = writer(chat_fake, model="gpt-4o")
    assert engine.engine == "openai:gpt-4o"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "/v1/chat/completions"])
def test_the_url_may_name_v1_or_not(chat_fake, suffix):
    w = ChatBriefWriter(chat_fake.url + suffix, API_KEY, "gpt-4o-mini", 5.0)
    assert w.endpoint == f"{chat_fake.url}/v1/chat/completions"
    write(w)
    assert chat_fake.last["path"] == "/v1/chat/completions"


def test_a_server_elsewhere_is_named_by_its_full_endpoint():
    assert chat_completions_url("https://llm.example/openai/chat/completions") == \
        "https://llm.example/openai/chat/completions"
    assert chat_completions_url("https://openrouter.example/api/v1") == \
        "https://openrouter.example/api/v1/chat/completions"


def test_a_server_without_a_key_gets_no_authorization_header(chat_fake):
    chat_fake.api_key = None  # a self-hosted server without auth
    write(writer(chat_fake, api_key=""))
    assert "Authorization" not in chat_fake.last["headers"]


def test_a_long_meeting_keeps_its_beginning_and_end(chat_fake):
    turns = [Segment(f"Speaker {i % 3}", i * 30.0, i * 30 + 29, f"Turn number {i} says something worth hearing.")
             for i in range(400)]
    w = writer(chat_fake, budget=4_000)
    write(w, turns)
    user = chat_fake.last["body"]["messages"][1]["content"]
    transcript = user.split("Transcript:\n", 1)[1]
    assert len(transcript) <= 4_000
    assert "The meeting is long: the middle of the transcript is left out where marked." in user
    lines = transcript.split("\n")
    assert lines[0] == "Speaker 0 [00:00]: Turn number 0 says something worth hearing."
    assert lines[-1] == "Speaker 0 [199:30]: Turn number 399 says something worth hearing."
    marker = next(line for line in lines if line.startswith("[…"))
    kept = len(lines) - 1
    assert marker == f"[… {400 - kept} turns from the middle of the meeting left out …]"
    head, tail = lines.index(marker), len(lines) - lines.index(marker) - 1
    assert abs(head - tail) <= 1  # half the budget each


def test_one_endless_turn_is_clipped_at_both_ends():
    words = " ".join(f"w{i}" for i in range(5_000))
    lines, trimmed = transcript_lines([Segment("Al", 0, 600, words)], budget=2_000)
    assert trimmed
    assert lines[0].startswith("Al [00:00]: w0 w1") and lines[0].endswith("…")
    assert lines[-1].startswith("…") and lines[-1].endswith("w4999")
    assert sum(len(line) + 1 for line in lines) <= 2_000


def test_a_short_meeting_is_sent_whole():
    lines, trimmed = transcript_lines(CALL)
    assert not trimmed and len(lines) == 4


# --- The answer is checked --------------------------------------------------------------------


def test_speakers_must_be_the_transcripts_and_items_are_capped(chat_fake):
    items = [{"text": f"Do thing {i}.", "speaker": "marcus  LEE"} for i in range(12)]
    items[0] = {"text": "Send the quote.", "speaker": "Someone Else"}
    items[1] = {"text": "Send the quote.", "speaker": "Dana Whitfield"}  # a repeat of the first
    items[2] = {"text": "Book the demo.", "speaker": None}
    chat_fake.answer({"summary": "  A useful\n\n   summary.  ", "action_items": items, "extra": "ignored"})
    brief = write(writer(chat_fake))
    assert brief.summary == "A useful\nsummary."
    assert brief.action_items[:3] == [ActionItem("Send the quote.", ""), ActionItem("Book the demo.", ""),
                                      ActionItem("Do thing 3.", "Marcus Lee")]
    assert len(brief.action_items) == 10


def test_over_long_text_is_clipped(chat_fake):
    chat_fake.answer({"summary": "word " * 1000, "action_items": [{"text": "act " * 200, "speaker": ""}]})
    brief = write(writer(chat_fake))
    assert len(brief.summary) <= 2_000 and brief.summary.endswith("…")
    assert len(brief.action_items[0].text) <= 300


def test_no_action_items_is_a_brief(chat_fake):
    chat_fake.answer({"summary": "They met.", "action_items": []})
    assert write(writer(chat_fake)).action_items == []
    chat_fake.answer({"summary": "They met."})
    assert write(writer(chat_fake)).action_items == []


def test_a_fenced_json_answer_from_a_server_that_ignores_json_mode(chat_fake):
    chat_fake.answer('```json\n{"summary": "They met.", "action_items": []}\n```')
    assert write(writer(chat_fake)).summary == "They met."


@pytest.mark.parametrize(("content", "problem"), [
    ("They talked about pricing.", "a brief that is not JSON"),
    ("[1, 2]", "JSON that is not an object"),
    ({"summary": ""}, "a brief without a summary"),
    ({"summary": 3}, "a brief without a summary"),
    ({"action_items": []}, "a brief without a summary"),
    ({"summary": "ok", "action_items": "call back"}, "action_items that are not a list"),
    ({"summary": "ok", "action_items": ["call back"]}, "an action item without text"),
    ({"summary": "ok", "action_items": [{"text": 5}]}, "an action item without text"),
    ({"summary": "ok", "action_items": [{"text": "Call.", "speaker": ["Al"]}]},
     "an action item whose speaker is not a name"),
])
def test_an_answer_that_is_not_the_object_asked_for_is_temporary(chat_fake, content, problem):
    chat_fake.answer(content)
    error = failure(writer(chat_fake))
    assert str(error) == f"The brief service at {chat_fake.url.removeprefix('http://')} answered with {problem}."
    assert not error.permanent and error.retry_after is None


# --- Failures ---------------------------------------------------------------------------------


def where(fake):
    return fake.url.removeprefix("http://")


def test_429_waits_for_its_retry_after(chat_fake):
    chat_fake.fail("429", retry_after="7")
    error = failure(writer(chat_fake))
    assert not error.permanent and error.retry_after == 7
    assert str(error) == (f"The brief service at {where(chat_fake)} is rate limiting Chorus (HTTP 429: Rate limit "
                          "reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1. Please "
                          "try again in 20s.).")


def test_429_with_an_http_date(chat_fake):
    chat_fake.fail("429", retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True))
    assert 80 <= failure(writer(chat_fake)).retry_after <= 90


@pytest.mark.parametrize(("kind", "retry_after", "expected_wait", "said"), [
    ("500", None, None, "The server had an error while processing your request. Sorry about that!"),
    ("503", None, None, "The engine is currently overloaded, please try again later."),
    ("503", "30", 30, "The engine is currently overloaded, please try again later."),
])
def test_server_errors_are_temporary(chat_fake, kind, retry_after, expected_wait, said):
    chat_fake.fail(kind, retry_after=retry_after)
    error = failure(writer(chat_fake))
    assert not error.permanent and error.retry_after == expected_wait
    assert str(error) == f"The brief service at {where(chat_fake)} failed (HTTP {kind}: {said})."


def test_one_request_per_write_the_pipeline_retries(chat_fake):
    chat_fake.fail("503")
    w = writer(chat_fake)
    failure(w)
    assert len(chat_fake.requests) == 1
    assert write(w).summary == DEFAULT_BRIEF["summary"]  # the next attempt, when the pipeline makes it
    assert len(chat_fake.requests) == 2


def test_a_slow_answer_times_out(chat_fake):
    chat_fake.fail("slow")
    error = failure(writer(chat_fake, timeout=0.3))
    assert str(error) == f"The brief service at {where(chat_fake)} did not answer within 0.3 seconds."
    assert not error.permanent and error.retry_after is None


def test_a_dropped_connection_is_temporary(chat_fake):
    chat_fake.fail("drop")
    error = failure(writer(chat_fake))
    assert str(error) == f"The connection to the brief service at {where(chat_fake)} failed."
    assert not error.permanent


def test_nobody_listening_is_temporary():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    error = failure(ChatBriefWriter(f"http://127.0.0.1:{port}", API_KEY, "gpt-4o-mini", 2.0))
    assert str(error) == f"The connection to the brief service at 127.0.0.1:{port} failed."
    assert not error.permanent


@pytest.mark.parametrize(("kind", "problem"), [
    ("malformed", "something that is not JSON (HTTP 200)"),
    ("no_choices", "no completion (no choices[0].message)"),
    ("not_json", "a brief that is not JSON"),
    ("length", "a brief cut off at the model's length limit (finish_reason \"length\")"),
])
def test_a_broken_answer_is_temporary(chat_fake, kind, problem):
    chat_fake.fail(kind)
    error = failure(writer(chat_fake))
    assert str(error) == f"The brief service at {where(chat_fake)} answered with {problem}."
    assert not error.permanent


def test_a_wrong_key_is_permanent_and_not_repeated(chat_fake):
    wrong = "sk-wrong-key-abcdefghijklmnop"
    error = failure(writer(chat_fake, api_key=wrong))
    assert error.permanent
    assert wrong not in str(error) and "mnop" not in str(error)
    assert str(error) == (f"The brief service at {where(chat_fake)} refused the request (HTTP 401: Incorrect API "
                          "key provided: [key]. You can find your API key at "
                          "https://platform.openai.com/account/api-keys.). Check BRIEF_API_KEY.")


def test_a_missing_key_is_permanent(chat_fake):
    error = failure(writer(chat_fake, api_key=""))
    assert error.permanent and "HTTP 401: You didn't provide an API key." in str(error)


def test_an_unknown_model_is_permanent(chat_fake):
    error = failure(writer(chat_fake, model="gpt-9-imaginary"))
    assert error.permanent
    assert str(error) == (f"The brief service at {where(chat_fake)} refused the request (HTTP 404: The model "
                          "`gpt-9-imaginary` does not exist or you do not have access to it.). "
                          "Check BRIEF_MODEL and BRIEF_API_URL.")


def test_a_server_without_json_mode_is_permanent(chat_fake):
    chat_fake.response_formats = ("text",)
    error = failure(writer(chat_fake))
    assert error.permanent
    assert "HTTP 400: Invalid value: 'json_object'. Supported values are: 'text'." in str(error)


def test_a_content_filter_is_permanent(chat_fake):
    chat_fake.answer("", finish_reason="content_filter")
    error = failure(writer(chat_fake))
    assert error.permanent and "content filter" in str(error)


@pytest.mark.parametrize(("status", "body", "permanent", "said"), [
    (422, {"detail": "Input should be a valid list"}, True, "HTTP 422: Input should be a valid list"),
    (403, {"error": "Model not found"}, True, "HTTP 403: Model not found"),
    (502, "<html>Bad Gateway</html>", False, "HTTP 502"),
    (408, {"message": "Request timed out"}, False, "HTTP 408: Request timed out"),
])
def test_other_compatible_servers_errors(httpserver, status, body, permanent, said):
    """vLLM/FastAPI answer 422 with ``detail``, some gateways a string ``error``."""
    expected = httpserver.expect_request("/v1/chat/completions", method="POST")
    if isinstance(body, dict):
        expected.respond_with_json(body, status=status)
    else:
        expected.respond_with_data(body, status=status, content_type="text/html")
    error = failure(ChatBriefWriter(httpserver.url_for("/"), "", "local-model", 5.0))
    assert error.permanent is permanent
    assert f"({said})" in str(error)


def test_an_address_that_is_not_one_is_permanent():
    error = failure(ChatBriefWriter("llm.internal:8000", "", "m", 1.0))
    assert error.permanent and "BRIEF_API_URL" in str(error)


# --- The fake is strict, as the API is ----------------------------------------------------------


def post(fake, body, key=API_KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    raw = body if isinstance(body, str) else json.dumps(body)
    return requests.post(f"{fake.url}/v1/chat/completions", data=raw, timeout=5,
                         headers={**headers, "Content-Type": "application/json"})


GOOD = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Answer in JSON."}],
        "response_format": {"type": "json_object"}}


@pytest.mark.parametrize(("change", "status", "param"), [
    ({"model": None}, 400, "model"),
    ({"messages": None}, 400, "messages"),
    ({"messages": []}, 400, "messages"),
    ({"messages": [{"role": "bot", "content": "json"}]}, 400, "messages[0].role"),
    ({"messages": [{"role": "user", "content": None}]}, 400, "messages[0].content"),
    ({"response_format": {"type": "yaml"}}, 400, "response_format.type"),
    ({"messages": [{"role": "user", "content": "Summarise."}]}, 400, "messages"),  # JSON mode, never asked
    ({"temperature": 3}, 400, "temperature"),
    ({"model": "gpt-9"}, 404, None),
])
def test_the_fake_refuses_what_the_api_refuses(chat_fake, change, status, param):
    body = {k: v for k, v in (GOOD | change).items() if v is not None}
    answer = post(chat_fake, body)
    assert answer.status_code == status
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
    assert answer.json()["error"]["param"] == param


def test_the_fake_wants_the_bearer_key(chat_fake):
    assert post(chat_fake, GOOD, key="").status_code == 401
    assert post(chat_fake, GOOD, key="sk-other-0000000000").json()["error"]["code"] == "invalid_api_key"
    assert post(chat_fake, "{not json").status_code == 400


def test_the_fake_answers_in_the_completion_shape(chat_fake):
    answer = post(chat_fake, GOOD).json()
    assert answer["object"] == "chat.completion" and answer["id"].startswith("chatcmpl-")
    assert answer["model"] == "gpt-4o-mini"
    (choice,) = answer["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert json.loads(choice["message"]["content"]) == DEFAULT_BRIEF
    assert answer["usage"]["total_tokens"] == answer["usage"]["prompt_tokens"] + answer["usage"]["completion_tokens"]


# --- Settings ---------------------------------------------------------------------------------


def test_without_a_url_the_offline_writer_runs(settings):
    settings.BRIEF_API_URL = ""
    assert isinstance(brief_writer_from_settings(), ExtractiveBriefWriter)


def test_the_settings_name_the_chat_engine(settings, chat_fake):
    settings.BRIEF_API_URL = f"{chat_fake.url}/v1"
    settings.BRIEF_API_KEY = API_KEY
    settings.BRIEF_MODEL = "gpt-4o"
    settings.BRIEF_TIMEOUT = 42.0
    engine = brief_writer_from_settings()
    assert isinstance(engine, ChatBriefWriter)
    assert (engine.engine, engine.endpoint, engine.timeout) == ("openai:gpt-4o", f"{chat_fake.url}/v1/chat/completions",
                                                                 42.0)
    brief = write(engine)
    assert brief.engine == "openai:gpt-4o" and chat_fake.last["body"]["model"] == "gpt-4o"
