"""The RTMP ingest Zoom streams meetings to: nginx with the RTMP module (Debian's
``nginx`` + ``libnginx-mod-rtmp``), not Python. This module renders
``deploy/nginx-rtmp.conf.template`` (listen address, record directory, the callback
URLs to Chorus with their shared secret) and runs ``nginx -g 'daemon off;'`` as the
current user with its pid, logs and temp files in a private directory.

``manage.py run_stream_ingest`` (``make run``) and the tests' fixture both use
:func:`start`."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.urls import reverse

from integrations.streaming.services import callback_secret, record_dir

TEMPLATE = Path(settings.BASE_DIR) / "deploy" / "nginx-rtmp.conf.template"
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
RECORD_MAX_SIZE = "4096M"


class IngestError(Exception):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def callback_urls(base_url: str) -> tuple[str, str]:
    """The on_publish / on_record_done URLs: Chorus' web server plus the shared
    secret that tells Chorus the call comes from its own ingest."""
    query = "?" + urlencode({"secret": callback_secret()})
    base = base_url.rstrip("/")
    return base + reverse("stream-publish") + query, base + reverse("stream-done") + query


def ingest_address() -> tuple[str, int, str]:
    """Where to listen and the application name, from ``STREAM_INGEST_URL``: a
    loopback host listens on loopback, any other on every interface."""
    parts = urlsplit(settings.STREAM_INGEST_URL)
    host = parts.hostname or "127.0.0.1"
    listen = host if host in ("127.0.0.1", "localhost", "::1") else "0.0.0.0"  # noqa: S104 (a public ingest)
    app = parts.path.strip("/").split("/")[0] or "live"
    return listen, parts.port or 1935, app


def render(*, listen: str, app: str, record_path: str, run_dir: str, publish_url: str, done_url: str,
           log_level: str = "info") -> str:
    user = ""
    if os.geteuid() == 0:  # nginx would hand the workers to "nobody": keep the caller's user
        user = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
    values = {
        "RTMP_MODULE": RTMP_MODULE,
        "USER_DIRECTIVE": user,
        "RUN_DIR": run_dir,
        "ERROR_LOG": os.path.join(run_dir, "error.log"),
        "LOG_LEVEL": log_level,
        "LISTEN": listen,
        "APP": app,
        "PUBLISH_URL": publish_url,
        "DONE_URL": done_url,
        "RECORD_DIR": record_path,
        "RECORD_MAX_SIZE": RECORD_MAX_SIZE,
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace("{{ " + key + " }}", value)
    if "{{" in text:
        raise IngestError("The nginx template has a placeholder nobody filled.")
    return text


@dataclass
class Ingest:
    process: subprocess.Popen
    host: str
    port: int
    app: str
    run_dir: str
    record_path: str
    owns_run_dir: bool = field(default=True)

    @property
    def url(self) -> str:
        return f"rtmp://{self.host}:{self.port}/{self.app}"

    def error_log(self) -> str:
        with contextlib.suppress(OSError):
            return Path(self.run_dir, "error.log").read_text()
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # nginx: fast shutdown on TERM
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.owns_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def start(*, callback_base_url: str, host: str | None = None, port: int | None = None, app: str | None = None,
          record_path: str | None = None, run_dir: str | None = None, timeout: float = 10.0) -> Ingest:
    """Render the config and start nginx in the foreground; returns once the RTMP
    port accepts connections. ``port=0`` picks a free one."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx) or not os.path.exists(RTMP_MODULE):
        raise IngestError("nginx with the RTMP module is not installed (apt-get install nginx libnginx-mod-rtmp).")
    default_host, default_port, default_app = ingest_address()
    host = host or default_host
    port = free_port(host) if port == 0 else (port or default_port)
    app = app or default_app
    record_path = record_path or record_dir()
    os.makedirs(record_path, exist_ok=True)
    owns = run_dir is None
    run_dir = run_dir or tempfile.mkdtemp(prefix="chorus-ingest-")
    publish_url, done_url = callback_urls(callback_base_url)
    conf = Path(run_dir, "nginx.conf")
    conf.write_text(render(listen=f"{host}:{port}", app=app, record_path=record_path, run_dir=run_dir,
                           publish_url=publish_url, done_url=done_url))
    process = subprocess.Popen(  # noqa: S603 (nginx and our own config)
        # -e: the error log before the config is read (nginx >= 1.19.5; Debian 12 has 1.22).
        [nginx, "-p", run_dir, "-e", os.path.join(run_dir, "error.log"), "-c", str(conf), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
    )
    ingest = Ingest(process=process, host=host, port=port, app=app, run_dir=run_dir, record_path=record_path,
                    owns_run_dir=owns)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = ingest.error_log()
            ingest.stop()
            raise IngestError(f"nginx exited ({process.returncode}): {log[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return ingest
        time.sleep(0.05)
    log = ingest.error_log()
    ingest.stop()
    raise IngestError(f"nginx did not listen on {host}:{port} in {timeout:.0f} s: {log[-2000:]}")

