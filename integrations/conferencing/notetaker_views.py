"""``/integrations/notetaker/webhook``: the Notetaker bot backend's events. Signature
and timestamp first (401), then the JSON (400), then the bot Chorus scheduled (404)
and the replay check (400). The work is queued: the answer is immediate."""

from __future__ import annotations

import json
import logging

from django.http import HttpResponseNotAllowed, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from integrations.conferencing import notetaker, notetaker_events

log = logging.getLogger(__name__)


@method_decorator(csrf_exempt, name="dispatch")
class NotetakerWebhookView(View):
    def http_method_not_allowed(self, request, *args, **kwargs):
        return HttpResponseNotAllowed(["POST"])

    def post(self, request):
        body = request.body
        signature = request.headers.get("x-notetaker-signature")
        try:
            notetaker.verify_signature(timestamp=request.headers.get("x-notetaker-timestamp"),
                                       signature=signature, body=body)
        except notetaker.SignatureError as exc:
            log.warning("Notetaker webhook refused: %s", exc)
            return JsonResponse({"error": "invalid signature", "reason": str(exc)}, status=401)
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict) or not all(
                    isinstance(payload.get(k), str) and payload.get(k) for k in ("id", "event", "bot_id")):
                raise ValueError
        except ValueError:
            return JsonResponse({"error": "malformed event", "reason": "JSON with id, event and bot_id expected."},
                                status=400)
        if payload["event"] not in notetaker_events.EVENTS:
            return JsonResponse({"status": "ignored"})
        try:
            accepted = notetaker_events.notetaker_event_accept(payload=payload, signature=signature or "")
        except notetaker_events.Refused as exc:
            log.warning("Notetaker webhook refused: %s (bot %s)", exc, payload.get("bot_id"))
            return JsonResponse({"error": "refused", "reason": str(exc)}, status=exc.status)
        return JsonResponse({"status": "queued" if accepted else "duplicate"})
