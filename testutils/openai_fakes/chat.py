"""A strict local stand-in for an OpenAI-compatible ``POST /v1/chat/completions``
(plain HTTP on loopback), for the brief engine's wire-level tests: a request handler
for a pytest-httpserver ``HTTPServer`` that keeps every request it is sent.

It follows the API reference, not our client: each rule cites the page it comes from.

* Create chat completion — https://platform.openai.com/docs/api-reference/chat/create
  (``model`` and ``messages`` required; message roles; ``temperature`` 0–2;
  ``response_format`` ``text`` / ``json_object`` / ``json_schema``).
* The chat completion object — https://platform.openai.com/docs/api-reference/chat/object
  (``id``, ``object: "chat.completion"``, ``created``, ``model``,
  ``choices[].message.content``, ``finish_reason``, ``usage``).
* JSON mode — https://platform.openai.com/docs/guides/structured-outputs (the messages must
  ask for JSON; content may be cut off when ``finish_reason`` is ``"length"``).
* Errors — https://developers.openai.com/docs/guides/error-codes (401 key, 429 rate limit,
  500 server error, 503 overloaded), each as ``{"error": {"message", "type", "param",
  "code"}}``.

What it answers is scripted: ``fake.answer(content)`` (a dict is sent as its JSON), and
``fake.fail(kind, …)`` queues faults for the next requests, in order:

* ``"429"`` — rate limited, with ``Retry-After`` (seconds);
* ``"500"`` / ``"503"`` — a server error / overloaded (``Retry-After`` when given);
* ``"slow"`` — the answer comes after ``SLOW_SECONDS`` (longer than the tests' timeout);
* ``"drop"`` — the connection is closed without an answer;
* ``"malformed"`` — HTTP 200 whose body is cut-off JSON;
* ``"no_choices"`` — a completion object with an empty ``choices`` list;
* ``"not_json"`` — a well-formed completion whose content is prose, not JSON;
* ``"length"`` — content cut off, ``finish_reason: "length"``.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PATH = "/v1/chat/completions"
API_KEY = "sk-test-chorus-brief-0123456789"
MODELS = ("gpt-4o-mini", "gpt-4o")
SLOW_SECONDS = 1.0
FAULTS = ("429", "500", "503", "slow", "drop", "malformed", "no_choices", "not_json", "length")

# https://platform.openai.com/docs/api-reference/chat/create: messages[].role is one of these.
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# https://platform.openai.com/docs/api-reference/chat/create#chat-create-response_format
RESPONSE_FORMATS = ("text", "json_object", "json_schema")

DEFAULT_BRIEF = {
    "summary": "Dana walked Marcus through call review and forecasting. Acme's forecast breaks every quarter "
               "and managers cannot review calls at scale. They agreed on a pilot for the sales team.",
    "action_items": [{"text": "Send the formal quote after the call.", "speaker": "Dana Whitfield"},
                     {"text": "Check Priya's availability for the demo.", "speaker": "Marcus Lee"}],
}


class FakeChatCompletions:
    """One OpenAI-compatible chat server. ``api_key=None`` accepts any or no key (a
    self-hosted server without auth); ``models`` are the ones it serves."""

    def __init__(self, *, api_key: str | None = API_KEY, models: tuple[str, ...] = MODELS,
                 response_formats: tuple[str, ...] = RESPONSE_FORMATS, slow_seconds: float = SLOW_SECONDS):
        self.api_key = api_key
        self.models = models
        self.response_formats = response_formats
        self.slow_seconds = slow_seconds
        self.url = ""  # the server's base address (no /v1), set by serve()
        self.requests: list[dict] = []  # {"method", "path", "headers", "body"} of every request
        self.content: str = json.dumps(DEFAULT_BRIEF)
        self.finish_reason = "stop"
        self.faults: list[tuple[str, dict]] = []
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    # -- scripting ---------------------------------------------------------------------------

    def answer(self, content: str | dict, *, finish_reason: str = "stop") -> None:
        """What the model says from now on (a dict is sent as its JSON text)."""
        self.content = content if isinstance(content, str) else json.dumps(content)
        self.finish_reason = finish_reason

    def fail(self, kind: str, *, times: int = 1, retry_after: str | None = None) -> None:
        """The next ``times`` requests (after those already queued) fail as ``kind``."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        self.faults += [(kind, {"retry_after": retry_after})] * times

    @property
    def last(self) -> dict:
        return self.requests[-1]

    # -- the handler -------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        raw = request.get_data(as_text=True)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        with self.lock:
            self.requests.append({"method": request.method, "path": request.path,
                                  "headers": dict(request.headers), "body": body})
            fault, options = self.faults.pop(0) if self.faults else ("", {})
        if fault == "drop":
            # Close the connection without an answer (as testutils.crm_fakes.base.hang_up does; not
            # imported from there, which would load the CRM apps): the client sees the peer go away.
            request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return Response(status=500)
        if fault == "slow":
            time.sleep(self.slow_seconds)  # the client has given up by now
        refused = self.refusal(request, body)
        if refused:
            return refused
        retry = {"Retry-After": options["retry_after"]} if options.get("retry_after") else {}
        if fault == "429":
            # https://developers.openai.com/docs/guides/error-codes: "429 - Rate limit reached for requests".
            return error(429, f"Rate limit reached for {body['model']} on requests per min (RPM): Limit 3, "
                              "Used 3, Requested 1. Please try again in 20s.",
                         type_="requests", code="rate_limit_exceeded", headers=retry or {"Retry-After": "20"})
        if fault == "500":
            # Same page: "500 - The server had an error while processing your request".
            return error(500, "The server had an error while processing your request. Sorry about that!",
                         type_="server_error", headers=retry)
        if fault == "503":
            # Same page: "503 - The engine is currently overloaded, please try again later".
            return error(503, "The engine is currently overloaded, please try again later.",
                         type_="server_error", headers=retry)
        if fault == "malformed":
            return Response('{"id": "chatcmpl-', status=200, content_type="application/json")
        if fault == "no_choices":
            return self.completion(body, choices=[])
        if fault == "not_json":
            return self.completion(body, content="Sure! Here is a summary of the meeting: they talked about "
                                                 "pricing and agreed to follow up next week.")
        if fault == "length":
            return self.completion(body, content=self.content[: len(self.content) // 2], finish_reason="length")
        return self.completion(body)

    def refusal(self, request: Request, body) -> Response | None:
        """What the API refuses, in the order it checks: the key, the body, the model."""
        if self.api_key is not None:
            auth = request.headers.get("Authorization", "")
            if not auth:
                # https://developers.openai.com/docs/guides/error-codes: 401 - Invalid Authentication.
                return error(401, "You didn't provide an API key. You need to provide your API key in an "
                                  "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
            given = auth.removeprefix("Bearer ").strip()
            if not auth.startswith("Bearer ") or given != self.api_key:
                # Same page: "401 - Incorrect API key provided"; the real message echoes a masked key.
                masked = f"{given[:3]}***{given[-4:]}" if len(given) > 8 else "***"
                return error(401, f"Incorrect API key provided: {masked}. You can find your API key at "
                                  "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
        if not isinstance(body, dict):
            return error(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                              "aren't using your HTTP library correctly.)")
        # https://platform.openai.com/docs/api-reference/chat/create: model and messages are required.
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return error(400, "you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error(400, "Missing required parameter: 'messages'.", param="messages",
                         code="missing_required_parameter")
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ROLES:
                return error(400, f"Invalid value: {role!r}. Supported values are: 'system', 'assistant', "
                                  "'user', 'function', 'tool', and 'developer'.",
                             param=f"messages[{i}].role", code="invalid_value")
            content = message.get("content")
            if role in ("system", "developer", "user") and not isinstance(content, (str, list)):
                return error(400, f"Invalid type for 'messages[{i}].content': expected one of a string or "
                                  "array of objects.", param=f"messages[{i}].content", code="invalid_type")
        temperature = body.get("temperature", 1)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            return error(400, f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, "
                              f"but got {temperature!r} instead.", param="temperature", code="decimal_above_max_value")
        if "response_format" in body:
            kind = body["response_format"].get("type") if isinstance(body["response_format"], dict) else None
            if kind not in self.response_formats:
                supported = ", ".join(repr(k) for k in self.response_formats)
                return error(400, f"Invalid value: {kind!r}. Supported values are: {supported}.",
                             param="response_format.type", code="invalid_value")
            said = " ".join(m.get("content") for m in messages if isinstance(m.get("content"), str))
            if kind == "json_object" and "json" not in said.lower():
                # JSON mode: "you must also instruct the model to produce JSON yourself".
                return error(400, "'messages' must contain the word 'json' in some form, to use "
                                  "'response_format' of type 'json_object'.", param="messages")
        if model not in self.models:
            # The real 404 body, as quoted in https://github.com/Chainlit/cookbook/issues/82:
            # {"message": "The model `x` does not exist or you do not have access to it.",
            # "type": "invalid_request_error", "param": null, "code": "model_not_found"}.
            return error(404, f"The model `{model}` does not exist or you do not have access to it.",
                         code="model_not_found")
        return None

    def completion(self, body: dict, *, content: str | None = None, finish_reason: str | None = None,
                   choices: list | None = None) -> Response:
        """The chat completion object (https://platform.openai.com/docs/api-reference/chat/object)."""
        content = self.content if content is None else content
        prompt = sum(len(m.get("content") or "") for m in body["messages"] if isinstance(m.get("content"), str))
        if choices is None:
            choices = [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None, "finish_reason": finish_reason or self.finish_reason}]
        usage = {"prompt_tokens": prompt // 4 + 1, "completion_tokens": len(content) // 4 + 1}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return Response(json.dumps({
            "id": f"chatcmpl-fake{next(self.ids):06d}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "choices": choices, "usage": usage, "system_fingerprint": "fp_fake",
        }), status=200, content_type="application/json")


def error(status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
          code: str | None = None, headers: dict | None = None) -> Response:
    """An error in the API's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})


def serve(server: HTTPServer, fake: FakeChatCompletions) -> FakeChatCompletions:
    """``fake`` answers ``POST /v1/chat/completions`` on ``server``."""
    server.expect_request(PATH, method="POST").respond_with_handler(fake.handle)
    fake.url = server.url_for("").rstrip("/")
    return fake


@contextmanager
def chat_server() -> Iterator[HTTPServer]:
    """A started plain-HTTP server on loopback, threaded so a slow answer does not hold
    up the next request or the shutdown."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()
