"""A strict stand-in for Slack's Web API, its OAuth authorize pages and its request
signing (a pytest plugin loaded by the root conftest: fixture ``slack_api``).

It follows Slack's documented behaviour, not ours; each rule cites the page it
follows (docs.slack.dev is the current home of api.slack.com's reference):

- Every method answers HTTP 200 with ``{"ok": false, "error": …}`` on a refusal
  (docs.slack.dev/apis/web-api/#responses), 404 ``unknown_method`` for a method that
  does not exist, 429 with ``Retry-After`` (seconds) when rate limited
  (docs.slack.dev/apis/web-api/rate-limits: "HTTP 429 Too Many Requests … a
  Retry-After HTTP header containing the number of seconds until you can retry").
- Tokens go in ``Authorization: Bearer`` or a ``token`` form field; JSON bodies only
  with the header (docs.slack.dev/apis/web-api/#posting-json: "you must send your
  token as a bearer token in the Authorization header"). Missing → ``not_authed``,
  unknown → ``invalid_auth``, revoked → ``token_revoked`` (the common errors of every
  method page).
- Form-encoded, multipart and JSON bodies and query strings are all read (the
  slack-sdk WebClient posts JSON for ``chat.postMessage``, form data otherwise).

Use it from a test::

    def test_x(slack_api):
        slack_api.add_workspace("T1", "Acme", bot_token="xoxb-1")
        slack_api.add_channel("C1", "deals", team_id="T1")
        ...
        assert slack_api.messages[0]["channel"] == "C1"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from werkzeug import Request, Response

# Block Kit limits (docs.slack.dev/reference/block-kit/blocks: "You can include up to
# 50 blocks in each message"; section block: "text … Maximum length for the text in
# this field is 3000 characters"; header block: "Maximum length … 150 characters").
MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
# chat.postMessage: "The text field … truncated … 40,000 characters"; longer ones are
# refused with ``msg_too_long`` (docs.slack.dev/reference/methods/chat.postMessage#errors).
MESSAGE_TEXT_MAX = 40_000
ALL_SCOPES = ("chat:write", "commands", "channels:read", "groups:read", "im:write", "users:read",
              "users:read.email", "channels:history", "groups:history", "im:history")


@dataclass
class _Token:
    team_id: str
    kind: str  # "bot" or "user"
    user_id: str
    scopes: tuple[str, ...] = ALL_SCOPES
    revoked: bool = False


@dataclass
class _Code:
    code: str
    team_id: str
    bot_token: str | None
    scopes: tuple[str, ...]
    authed_user_id: str | None
    user_token: str | None
    redirect_uri: str | None = None  # set by the authorize page that handed it out
    used: bool = False


@dataclass
class _Channel:
    id: str
    name: str
    team_id: str
    is_private: bool
    is_archived: bool
    bot_member: bool
    is_im: bool = False


@dataclass
class FakeSlack:
    """The state of the fake Slack; register it on a server with :meth:`install`."""

    base_url: str = ""
    client_id: str = "slack-client-id"
    client_secret: str = "slack-client-secret"
    workspaces: dict[str, dict] = field(default_factory=dict)
    channels: dict[str, _Channel] = field(default_factory=dict)
    users: dict[str, dict] = field(default_factory=dict)
    tokens: dict[str, _Token] = field(default_factory=dict)
    codes: dict[str, _Code] = field(default_factory=dict)
    calls: list[tuple[str, dict, str | None]] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # what conversations.history finds, per channel
    authorizations: list[dict] = field(default_factory=list)
    deny_next_authorize: bool = False
    _ratelimits: dict[str, list[float]] = field(default_factory=dict)
    _failures: dict[str, list[str]] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))

    # --- setting the scene ----------------------------------------------------------

    def add_workspace(self, team_id: str, team_name: str, *, bot_token: str, bot_user_id: str = "UBOT",
                      app_id: str = "A1", scopes: tuple[str, ...] = ALL_SCOPES) -> None:
        self.workspaces[team_id] = {"id": team_id, "name": team_name, "bot_user_id": bot_user_id,
                                    "app_id": app_id, "domain": re.sub(r"\W+", "-", team_name.lower())}
        self.tokens[bot_token] = _Token(team_id, "bot", bot_user_id, tuple(scopes))

    def add_channel(self, channel_id: str, name: str, *, team_id: str, is_private: bool = False,
                    is_archived: bool = False, bot_member: bool = True) -> None:
        self.channels[channel_id] = _Channel(channel_id, name, team_id, is_private, is_archived, bot_member)

    def add_user(self, user_id: str, name: str, *, team_id: str, email: str = "") -> None:
        self.users[user_id] = {"id": user_id, "team_id": team_id, "name": name, "email": email}

    def add_oauth_code(self, code: str, *, team_id: str, bot_token: str | None, scopes=ALL_SCOPES,
                       authed_user_id: str | None = None, user_token: str | None = None) -> None:
        """A code the authorize page will hand out (oldest unused first). With
        ``bot_token`` it is an app install (``/oauth/v2/authorize``, exchanged with
        ``oauth.v2.access``); with only ``authed_user_id`` + ``user_token`` it is a
        Sign in with Slack (``/openid/connect/authorize``, exchanged with
        ``openid.connect.token``). Codes are single use (a second exchange →
        ``invalid_code``: docs.slack.dev/reference/methods/oauth.v2.access#errors)."""
        if isinstance(scopes, str):
            scopes = tuple(s for s in scopes.split(",") if s)
        self.codes[code] = _Code(code, team_id, bot_token, tuple(scopes), authed_user_id, user_token)

    def ratelimit(self, method: str, *, retry_after: float, times: int = 1) -> None:
        self._ratelimits.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        self._failures.setdefault(method, []).extend([error] * times)

    def revoke(self, token: str) -> None:
        self.tokens[token].revoked = True

    def archive(self, channel_id: str) -> None:
        self.channels[channel_id].is_archived = True

    def kick(self, channel_id: str) -> None:
        self.channels[channel_id].bot_member = False

    def deny_authorize(self) -> None:
        """The next authorize page answers as if the user clicked Cancel
        (``?error=access_denied&state=…``, docs.slack.dev/authentication/installing-with-oauth)."""
        self.deny_next_authorize = True

    def calls_to(self, method: str) -> list[dict]:
        return [params for name, params, _ in self.calls if name == method]

    # --- the server -------------------------------------------------------------------

    def install(self, server) -> FakeSlack:
        self.base_url = server.url_for("/").rstrip("/")
        server.expect_request(re.compile(r"^/api/[^/]+$")).respond_with_handler(self.handle)
        server.expect_request("/oauth/v2/authorize").respond_with_handler(self.authorize)
        server.expect_request("/openid/connect/authorize").respond_with_handler(self.authorize)
        return self

    def authorize(self, request: Request) -> Response:
        """Slack's consent page, as if the user clicked Allow: straight back to
        ``redirect_uri`` with ``code`` and ``state``. Slack requires ``client_id`` and a
        ``redirect_uri`` registered for the app; it refuses the page otherwise."""
        args = request.args.to_dict()
        self.authorizations.append({"path": request.path, **args})
        openid = request.path.startswith("/openid/")
        if args.get("client_id") != self.client_id:
            return Response("Invalid client_id parameter", status=400)
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return Response("Bad redirect_uri", status=400)
        if openid:
            # docs.slack.dev/authentication/sign-in-with-slack: response_type=code, scope
            # must include openid.
            if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
                return Response("Bad openid request", status=400)
        elif not (args.get("scope") or args.get("user_scope")):
            return Response("Missing scope", status=400)
        params = {"state": args.get("state", "")}
        code = None if self.deny_next_authorize else self._next_code(openid=openid)
        self.deny_next_authorize = False
        if code is None:
            params["error"] = "access_denied"
        else:
            code.redirect_uri = redirect_uri
            params["code"] = code.code
        parts = urlsplit(redirect_uri)
        query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
        return Response(status=302, headers={"Location": urlunsplit(parts._replace(query=query))})

    def _next_code(self, *, openid: bool) -> _Code | None:
        for code in self.codes.values():
            if code.used or code.redirect_uri is not None:
                continue
            if openid and code.bot_token is None and code.user_token:
                return code
            if not openid and code.bot_token:
                return code
        return None

    def handle(self, request: Request) -> Response:
        method = request.path.rsplit("/", 1)[1]
        params, token, basic, as_json = self._read(request)
        self.calls.append((method, params, token))
        handler = METHODS.get(method)
        if handler is None:
            return _reply({"ok": False, "error": "unknown_method", "req_method": method}, status=404)
        if self._ratelimits.get(method):
            retry_after = self._ratelimits[method].pop(0)
            return _reply({"ok": False, "error": "ratelimited"}, status=429,
                          headers={"Retry-After": str(int(retry_after))})
        if self._failures.get(method):
            return _reply({"ok": False, "error": self._failures[method].pop(0)})
        if as_json and "token" in params and not token:
            # JSON bodies cannot carry the token (docs.slack.dev/apis/web-api/#posting-json).
            return _reply({"ok": False, "error": "not_authed"})
        if handler.needs_token:
            if not token:
                return _reply({"ok": False, "error": "not_authed"})
            held = self.tokens.get(token)
            if held is None:
                return _reply({"ok": False, "error": "invalid_auth"})
            if held.revoked:
                return _reply({"ok": False, "error": "token_revoked"})
            return _reply(handler.func(self, params, held, token))
        return _reply(handler.func(self, params, basic, token))

    @staticmethod
    def _read(request: Request) -> tuple[dict, str | None, tuple[str, str] | None, bool]:
        params: dict = request.args.to_dict()
        as_json = request.mimetype == "application/json"
        if as_json:
            params.update(json.loads(request.get_data() or b"{}"))
        else:
            params.update(request.form.to_dict())
        token = params.get("token") if not as_json else None
        basic = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[7:]
        elif header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                basic = (user, password)
            except (ValueError, UnicodeDecodeError):
                basic = ("", "")
        return params, token, basic, as_json

    def _ts_next(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"


# --- methods ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Method:
    func: object
    needs_token: bool = True


def _reply(body: dict, *, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8",
                    headers=headers or {})


def _auth_test(fake: FakeSlack, params: dict, held: _Token, token: str) -> dict:
    # docs.slack.dev/reference/methods/auth.test
    team = fake.workspaces.get(held.team_id, {"id": held.team_id, "name": "", "domain": ""})
    body = {"ok": True, "url": f"https://{team['domain']}.slack.com/", "team": team["name"],
            "user": fake.users.get(held.user_id, {}).get("name", "chorus"), "team_id": held.team_id,
            "user_id": held.user_id, "is_enterprise_install": False}
    if held.kind == "bot":
        body["bot_id"] = "B" + held.user_id
    return body


def _auth_revoke(fake: FakeSlack, params: dict, held: _Token, token: str) -> dict:
    # docs.slack.dev/reference/methods/auth.revoke: {"ok": true, "revoked": true}; ``test=1`` revokes nothing.
    if params.get("test") in ("1", "true", True, 1):
        return {"ok": True, "revoked": False}
    held.revoked = True
    return {"ok": True, "revoked": True}


def _client_credentials(fake: FakeSlack, params: dict, basic) -> str | None:
    """oauth.v2.access / openid.connect.token accept client_id and client_secret as
    form fields or as HTTP Basic auth (docs.slack.dev/reference/methods/oauth.v2.access:
    "Basic authentication is preferred")."""
    client_id, secret = basic if basic else (params.get("client_id"), params.get("client_secret"))
    if not client_id:
        return "invalid_client_id"
    if client_id != fake.client_id:
        return "invalid_client_id"
    if secret != fake.client_secret:
        return "bad_client_secret"
    return None


def _take_code(fake: FakeSlack, params: dict) -> tuple[_Code | None, str | None]:
    code = fake.codes.get(params.get("code") or "")
    if code is None or code.used:
        return None, "invalid_code"
    # "redirect_uri … must match the originally submitted URI (if one was sent)"
    # (docs.slack.dev/reference/methods/oauth.v2.access: bad_redirect_uri). A code a
    # test never sent through the authorize page has no URI to match.
    if code.redirect_uri is not None and params.get("redirect_uri") != code.redirect_uri:
        return None, "bad_redirect_uri"
    code.used = True
    return code, None


def _oauth_v2_access(fake: FakeSlack, params: dict, basic, token) -> dict:
    # docs.slack.dev/reference/methods/oauth.v2.access: the response shape.
    error = _client_credentials(fake, params, basic)
    if error:
        return {"ok": False, "error": error}
    code, error = _take_code(fake, params)
    if error:
        return {"ok": False, "error": error}
    team = fake.workspaces.setdefault(code.team_id, {"id": code.team_id, "name": code.team_id,
                                                      "bot_user_id": "UBOT", "app_id": "A1",
                                                      "domain": code.team_id.lower()})
    body = {"ok": True, "app_id": team["app_id"], "team": {"id": team["id"], "name": team["name"]},
            "enterprise": None, "is_enterprise_install": False,
            "authed_user": {"id": code.authed_user_id or ""}}
    if code.bot_token:
        fake.tokens[code.bot_token] = _Token(code.team_id, "bot", team["bot_user_id"], code.scopes)
        body.update({"access_token": code.bot_token, "token_type": "bot", "scope": ",".join(code.scopes),
                     "bot_user_id": team["bot_user_id"]})
    if code.user_token and code.authed_user_id:
        fake.tokens[code.user_token] = _Token(code.team_id, "user", code.authed_user_id, ("identity.basic",))
        body["authed_user"] = {"id": code.authed_user_id, "scope": "identity.basic",
                               "access_token": code.user_token, "token_type": "user"}
    return body


def _openid_token(fake: FakeSlack, params: dict, basic, token) -> dict:
    # docs.slack.dev/reference/methods/openid.connect.token
    error = _client_credentials(fake, params, basic)
    if error:
        return {"ok": False, "error": error}
    code, error = _take_code(fake, params)
    if error:
        return {"ok": False, "error": error}
    if not (code.user_token and code.authed_user_id):
        return {"ok": False, "error": "invalid_code"}
    fake.tokens[code.user_token] = _Token(code.team_id, "user", code.authed_user_id, ("openid", "profile", "email"))
    claims = {"iss": "https://slack.com", "sub": code.authed_user_id, "aud": fake.client_id,
              "https://slack.com/team_id": code.team_id, "https://slack.com/user_id": code.authed_user_id}
    id_token = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                        for part in ({"alg": "none"}, claims)) + "."
    return {"ok": True, "access_token": code.user_token, "token_type": "Bearer", "id_token": id_token}


def _openid_userinfo(fake: FakeSlack, params: dict, held: _Token, token: str) -> dict:
    # docs.slack.dev/reference/methods/openid.connect.userInfo: user tokens only.
    if held.kind != "user":
        return {"ok": False, "error": "invalid_auth"}
    user = fake.users.get(held.user_id, {"name": held.user_id, "email": ""})
    team = fake.workspaces.get(held.team_id, {"name": held.team_id, "domain": ""})
    return {"ok": True, "sub": held.user_id, "https://slack.com/user_id": held.user_id,
            "https://slack.com/team_id": held.team_id, "email": user.get("email", ""), "email_verified": True,
            "name": user["name"], "https://slack.com/team_name": team["name"],
            "https://slack.com/team_domain": team.get("domain", "")}


def _find_channel(fake: FakeSlack, held: _Token, ref: str) -> _Channel | None:
    channel = fake.channels.get(ref)
    if channel is None:
        name = ref.lstrip("#")
        channel = next((c for c in fake.channels.values() if c.name == name and c.team_id == held.team_id), None)
    if channel is None or channel.team_id != held.team_id:
        return None
    # A private channel the bot is not in does not exist for it
    # (docs.slack.dev/reference/methods/conversations.info#errors: channel_not_found).
    if channel.is_private and not channel.bot_member:
        return None
    return channel


def _missing_scope(held: _Token, scope: str) -> dict | None:
    if held.kind == "bot" and scope not in held.scopes:
        return {"ok": False, "error": "missing_scope", "needed": scope, "provided": ",".join(held.scopes)}
    return None


def _check_blocks(blocks) -> str | None:
    """docs.slack.dev/reference/block-kit/blocks; chat.postMessage#errors
    (``invalid_blocks``, ``invalid_blocks_format``)."""
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return "invalid_blocks_format"
    if not isinstance(blocks, list):
        return "invalid_blocks_format"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            return "invalid_blocks"
        kind = block["type"]
        if kind == "section":
            text = block.get("text")
            if text is None and not block.get("fields"):
                return "invalid_blocks"
            if text is not None and (not isinstance(text, dict) or text.get("type") not in ("mrkdwn", "plain_text")
                                     or not text.get("text") or len(text["text"]) > SECTION_TEXT_MAX):
                return "invalid_blocks"
            if len(block.get("fields") or []) > 10:
                return "invalid_blocks"
        elif kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text" or not text.get("text") or len(text["text"]) > HEADER_TEXT_MAX:
                return "invalid_blocks"
        elif kind == "context":
            if not block.get("elements") or len(block["elements"]) > 10:
                return "invalid_blocks"
        elif kind == "actions":
            if not block.get("elements") or len(block["elements"]) > 25:
                return "invalid_blocks"
        elif kind not in ("divider", "image", "rich_text", "input", "file", "video"):
            return "invalid_blocks"
    return None


def _chat_post_message(fake: FakeSlack, params: dict, held: _Token, token: str) -> dict:
    # docs.slack.dev/reference/methods/chat.postMessage: arguments and errors.
    missing = _missing_scope(held, "chat:write")
    if missing:
        return missing
    ref = params.get("channel")
    if not ref:
        return {"ok": False, "error": "channel_not_found"}
    text, blocks, attachments = params.get("text"), params.get("blocks"), params.get("attachments")
    if not (text or blocks or attachments):
        return {"ok": False, "error": "no_text"}
    if text and len(text) > MESSAGE_TEXT_MAX:
        return {"ok": False, "error": "msg_too_long"}
    if blocks:
        error = _check_blocks(blocks)
        if error:
            return {"ok": False, "error": error}
    if ref.startswith(("U", "W")):
        # "Passing a user ID as channel posts to that user's App Home / DM with the
        # app" (chat.postMessage, "Channel argument": conversations.open is implied).
        user = fake.users.get(ref)
        if user is None or user["team_id"] != held.team_id:
            return {"ok": False, "error": "channel_not_found"}
        channel_id = "D" + ref[1:]
        fake.channels.setdefault(channel_id, _Channel(channel_id, ref, held.team_id, True, False, True, is_im=True))
    else:
        channel = _find_channel(fake, held, ref)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        if not channel.bot_member:
            return {"ok": False, "error": "not_in_channel"}
        channel_id = channel.id
    received = dict(params)
    for key in ("blocks", "metadata"):
        if isinstance(received.get(key), str):
            received[key] = json.loads(received[key])
    fake.messages.append(received)
    ts = fake._ts_next()
    fake.history.append({"channel": channel_id, "ts": ts, "team_id": held.team_id, "text": text or "",
                         "metadata": received.get("metadata"), "bot_id": "B" + held.user_id})
    return {"ok": True, "channel": channel_id, "ts": ts,
            "message": {"type": "message", "text": text or "", "ts": ts, "bot_id": "B" + held.user_id,
                        "blocks": received.get("blocks") or []}}


def _conversations_info(fake: FakeSlack, params: dict, held: _Token, token: str) -> dict:
    # docs.slack.dev/reference/methods/conversations.info
    channel = _find_channel(fake, held, params.get("channel") or "")
    if channel is None or not channel.id.startswith(("C", "G", "D")):
        return {"ok": False, "error": "channel_not_found"}
    needed = "groups:read" if channel.is_private and not channel.is_im else "channels:read"
    missing = None if channel.is_im else _missing_scope(held, needed)
    if missing:
        return missing
    return {"ok": True, "channel": {
        "id": channel.id, "name": channel.name, "is_channel": not channel.is_private and not channel.is_im,
        "is_group": channel.is_private and not channel.is_im, "is_im": channel.is_im,
        "is_private": channel.is_private, "is_archived": channel.is_archived, "is_member": channel.bot_member,
        "context_team_id": channel.team_id}}


def _conversations_open(fake: FakeSlack, params: dict, held: _Token, token: str) -> dict:
    # docs.slack.dev/reference/methods/conversations.open: ``users`` → the DM's ``D…`` id.
    missing = _missing_scope(held, "im:write")
    if missing:
        return missing
    user = fake.users.get(params.get("users") or "")
    if user is None or user["team_id"] != held.team_id:
        return {"ok": False, "error": "user_not_found"}
    channel_id = "D" + user["id"][1:]
    fake.channels.setdefault(channel_id, _Channel(channel_id, user["id"], held.team_id, True, False, True, is_im=True))
    return {"ok": True, "channel": {"id": channel_id}}


def _conversations_history(fake: FakeSlack, params: dict, held: _Token, token: str) -> dict:
    # docs.slack.dev/reference/methods/conversations.history: ``channel`` (a conversation
    # id, not a user id), ``oldest``, ``include_all_metadata``; messages newest first;
    # channels:history / groups:history / im:history by the kind of conversation.
    ref = params.get("channel") or ""
    if ref.startswith(("U", "W")):
        return {"ok": False, "error": "channel_not_found"}
    channel = fake.channels.get(ref)
    if channel is None or channel.team_id != held.team_id:
        return {"ok": False, "error": "channel_not_found"}
    needed = "im:history" if channel.is_im else "groups:history" if channel.is_private else "channels:history"
    missing = _missing_scope(held, needed)
    if missing:
        return missing
    if not channel.bot_member:
        return {"ok": False, "error": "not_in_channel"}
    oldest = float(params.get("oldest") or 0)
    with_meta = str(params.get("include_all_metadata")).lower() in ("1", "true")
    found = [{"type": "message", "ts": m["ts"], "text": m["text"], "bot_id": m["bot_id"],
              **({"metadata": m["metadata"]} if with_meta and m["metadata"] else {})}
             for m in reversed(fake.history) if m["channel"] == channel.id and float(m["ts"]) > oldest]
    return {"ok": True, "messages": found, "has_more": False}


def _users_info(fake: FakeSlack, params: dict, held: _Token, token: str) -> dict:
    # docs.slack.dev/reference/methods/users.info; the email needs users:read.email.
    missing = _missing_scope(held, "users:read")
    if missing:
        return missing
    user = fake.users.get(params.get("user") or "")
    if user is None or user["team_id"] != held.team_id:
        return {"ok": False, "error": "user_not_found"}
    profile = {"real_name": user["name"], "display_name": user["name"]}
    if user["email"] and (held.kind != "bot" or "users:read.email" in held.scopes):
        profile["email"] = user["email"]
    return {"ok": True, "user": {"id": user["id"], "team_id": user["team_id"], "name": user["name"],
                                 "real_name": user["name"], "deleted": False, "is_bot": False, "profile": profile}}


METHODS: dict[str, _Method] = {
    "auth.test": _Method(_auth_test),
    "auth.revoke": _Method(_auth_revoke),
    "oauth.v2.access": _Method(_oauth_v2_access, needs_token=False),
    "openid.connect.token": _Method(_openid_token, needs_token=False),
    "openid.connect.userInfo": _Method(_openid_userinfo),
    "chat.postMessage": _Method(_chat_post_message),
    "conversations.info": _Method(_conversations_info),
    "conversations.open": _Method(_conversations_open),
    "conversations.history": _Method(_conversations_history),
    "users.info": _Method(_users_info),
}


# --- signing and the fixture ------------------------------------------------------------


def slack_signature(body: bytes, *, secret: str, timestamp: int | str) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret
    (docs.slack.dev/authentication/verifying-requests-from-slack)."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_signed_headers(body: bytes, *, secret: str, timestamp: int | None = None) -> dict:
    """Django test client kwargs for a request signed as Slack signs it."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {"HTTP_X_SLACK_SIGNATURE": slack_signature(body, secret=secret, timestamp=ts),
            "HTTP_X_SLACK_REQUEST_TIMESTAMP": str(ts)}


SIGNING_SECRET = "slack-signing-secret"


@pytest.fixture
def slack_api(httpserver, settings) -> FakeSlack:
    """A fresh :class:`FakeSlack` on pytest-httpserver, with Chorus's Slack settings
    pointing at it (API, OAuth pages, app credentials, signing secret)."""
    fake = FakeSlack().install(httpserver)
    settings.SLACK_API_URL = httpserver.url_for("/api/")
    settings.SLACK_OAUTH_URL = fake.base_url
    settings.SLACK_CLIENT_ID = fake.client_id
    settings.SLACK_CLIENT_SECRET = fake.client_secret
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    return fake


def parse_query(url: str) -> dict:
    """The query of a URL as a flat dict (handy for authorize URLs)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
