"""The recording-ready email is its own job: with no email settings at all, or a
mail server that refuses, the Zoom import completes and is linked to its
engagement; the email is logged and tried again on its own."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from django.core import mail
from django.utils import timezone
from django_q.models import Schedule

from chorus.models import Engagement
from integrations.conferencing import services
from integrations.conferencing.models import ZoomEvent
from integrations.conferencing.tests.test_webhook import completed, serve_recording
from testutils.processing import process_queued

ROOT = Path(__file__).resolve().parents[3]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_email_url_mail_goes_to_the_console():
    """No EMAIL_URL (and no other email setting): the console backend, not an SMTP
    server on localhost:25 that isn't there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL")}
    env["DJANGO_SETTINGS_MODULE"] = "chorus.settings"
    out = subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                          "print(settings.EMAIL_BACKEND)"], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "django.core.mail.backends.console.EmailBackend"


def test_the_import_completes_when_the_mail_server_refuses(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks, settings, caplog
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 2
    caplog.set_level(logging.WARNING, logger="integrations.conferencing.services")
    serve_recording(httpserver)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(completed(httpserver)).status_code == 200
    event = ZoomEvent.objects.get()
    assert event.status == "done", event.detail
    assert event.engagement == Engagement.objects.get()
    assert "Recording-ready email" not in caplog.text  # the email waits for processing
    # The served "MP4" is not audio: processing fails for good and still makes the recording ready.
    with django_capture_on_commit_callbacks(execute=True):
        assert process_queued() == {"ready": 0, "failed": 1, "retrying": 0}
    assert "Recording-ready email for engagement" in caplog.text
    retry = Schedule.objects.get(func="integrations.conferencing.tasks.recording_ready_email_task")
    assert retry.args == f"({event.engagement_id}, 2)" and retry.schedule_type == Schedule.ONCE
    assert timezone.now() + timedelta(minutes=4) < retry.next_run <= timezone.now() + timedelta(minutes=5)


def test_the_email_is_tried_again_on_its_own_then_given_up(host, settings):
    from testutils.factories import EngagementFactory

    e = EngagementFactory(org=host.org, owner=host)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 2
    assert services.recording_ready_email_send(engagement_id=e.pk, attempt=services.READY_EMAIL_MAX_ATTEMPTS) == \
        "failed"
    assert not Schedule.objects.filter(func=services.READY_EMAIL_TASK).exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.recording_ready_email_send(engagement_id=e.pk, attempt=3) == "sent"
    assert [m.to for m in mail.outbox] == [[host.email]]
