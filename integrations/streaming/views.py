"""The RTMP ingest's callbacks (nginx-rtmp ``on_publish`` / ``on_record_done``: form
POSTs with ``name`` = the stream key, ``app``, ``addr``…; ``path`` of the recorded file
for record_done). Any 2xx lets a publisher in, anything else drops it. Only Chorus'
own ingest may call them: its callback URLs carry ``?secret=`` (``ingest.callback_urls``)."""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.streaming import services

log = logging.getLogger(__name__)


def _refuse(status: int, why: str) -> HttpResponse:
    return HttpResponse(why, status=status, content_type="text/plain")


@csrf_exempt
@require_POST
def stream_publish(request):
    if not services.callback_allowed(request.GET.get("secret")):
        log.warning("Stream publish callback without the ingest's secret from %s", request.META.get("REMOTE_ADDR"))
        return _refuse(403, "not the ingest")
    allowed, why = services.stream_publish(name=request.POST.get("name", ""), app=request.POST.get("app", ""))
    if not allowed:
        log.info("Stream publish refused from %s: %s", request.POST.get("addr", "?"), why)
        return _refuse(403, why)
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
@require_POST
def stream_done(request):
    if not services.callback_allowed(request.GET.get("secret")):
        log.warning("Stream record_done callback without the ingest's secret from %s",
                    request.META.get("REMOTE_ADDR"))
        return _refuse(403, "not the ingest")
    ok, why = services.stream_record_done(name=request.POST.get("name", ""), path=request.POST.get("path", ""))
    if not ok:
        log.info("Stream record_done ignored: %s", why)
        return _refuse(404, why)
    return HttpResponse("ok", content_type="text/plain")
