"""Is a request Slack's? Every inbound Slack endpoint (slash commands, events) asks
this first, before reading anything else."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.http import HttpResponseNotAllowed, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

# Slack: a request "more than five minutes" from local time "could be a replay attack"
# (docs.slack.dev/authentication/verifying-requests-from-slack).
MAX_AGE_SECONDS = 5 * 60


class RequestRefused(Exception):
    """The request is not provably Slack's: answered with ``status`` and the reason,
    and nothing done."""

    def __init__(self, reason: str, *, status: int = 401):
        super().__init__(reason)
        self.status = status


def slack_request_verify(*, body: bytes, timestamp: str | None, signature: str | None,
                         now: float | None = None) -> None:
    """Slack's signature (HMAC-SHA256 of ``v0:timestamp:body`` with the app's signing
    secret, checked by slack-sdk) and a timestamp at most five minutes away, so a
    captured request cannot be replayed later. Raises :class:`RequestRefused`."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        raise RequestRefused("Slack signing secret is not configured.", status=503)
    if not timestamp or not signature:
        raise RequestRefused("Missing Slack signature headers.")
    try:
        sent = int(timestamp)
    except ValueError:
        raise RequestRefused("Bad Slack request timestamp.") from None
    if abs((time.time() if now is None else now) - sent) > MAX_AGE_SECONDS:
        raise RequestRefused("Stale Slack request timestamp (more than 5 minutes off).")
    if not SignatureVerifier(secret).is_valid(body=body, timestamp=timestamp, signature=signature):
        raise RequestRefused("Invalid Slack signature.")


@method_decorator(csrf_exempt, name="dispatch")
class SlackSignedView(View):
    """A POST endpoint Slack calls: the signature is checked before ``handle`` sees
    anything; a refusal answers ``refusal(reason)`` with the refusal's status."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        return HttpResponseNotAllowed(["POST"])

    def post(self, request):
        try:
            slack_request_verify(body=request.body, timestamp=request.headers.get("X-Slack-Request-Timestamp"),
                                 signature=request.headers.get("X-Slack-Signature"))
        except RequestRefused as exc:
            log.warning("Slack request to %s refused: %s", request.path, exc)
            return JsonResponse(self.refusal(str(exc)), status=exc.status)
        return self.handle(request)

    def refusal(self, reason: str) -> dict:
        return {"error": reason}

    def handle(self, request):
        raise NotImplementedError
