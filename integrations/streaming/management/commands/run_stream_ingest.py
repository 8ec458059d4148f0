"""Run the RTMP ingest (nginx + RTMP module) in the foreground: `make run` starts it
beside the web server and the worker."""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.streaming import ingest


class Command(BaseCommand):
    help = "Run the RTMP ingest Zoom streams meetings to (nginx with the RTMP module)."

    def add_arguments(self, parser):
        parser.add_argument("--callback-url", default="",
                            help="Chorus' web server as the ingest reaches it (default CHORUS_BASE_URL).")
        parser.add_argument("--host", default="", help="Listen address (default from STREAM_INGEST_URL).")
        parser.add_argument("--port", type=int, default=None, help="Listen port (default from STREAM_INGEST_URL).")
        parser.add_argument("--record-dir", default="", help="Where recordings go (default STREAM_RECORD_DIR).")

    def handle(self, *args, **options):
        try:
            running = ingest.start(callback_base_url=options["callback_url"] or settings.CHORUS_BASE_URL,
                                   host=options["host"] or None, port=options["port"],
                                   record_path=options["record_dir"] or None)
        except ingest.IngestError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"RTMP ingest listening at {running.url} (recording to {running.record_path})")

        stopping = []

        def stop(*_):  # only signal nginx here: the main thread is inside wait()
            stopping.append(True)
            if running.process.poll() is None:
                running.process.terminate()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            running.process.wait()
        finally:
            running.stop()
        if running.process.returncode and not stopping:
            raise CommandError(f"nginx exited ({running.process.returncode}): {running.error_log()[-2000:]}")
