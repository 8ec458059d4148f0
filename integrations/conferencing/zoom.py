"""Zoom: webhook signatures, the OAuth app (install, token refresh), the few API
calls Chorus makes, and the streamed recording download.

Base URLs come from ``ZOOM_OAUTH_URL`` / ``ZOOM_API_URL`` so tests and staging
point them at local servers."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.utils import timezone

from integrations.http import http_session
from integrations.registry import IntegrationError

SIGNATURE_TOLERANCE_SECONDS = 300
RECORDING_SCOPE_PREFIXES = ("recording:read", "cloud_recording:read")
# Zoom's own hosts for recording downloads; the configured base URLs are added.
ZOOM_DOWNLOAD_DOMAINS = ("zoom.us", "zoomgov.com", "zoom.com")
DOWNLOAD_CONTENT_TYPES = ("video/", "audio/", "application/octet-stream", "binary/octet-stream")
DOWNLOAD_CHUNK = 64 * 1024


class ZoomError(IntegrationError):
    """A Zoom call failed; the message is a sentence for the admin. ``transient``:
    Zoom was unreachable or busy, so trying again later may work."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class SignatureError(Exception):
    """The webhook request is not Zoom's (or is too old): answer 401."""


# --- Webhook signatures ----------------------------------------------------------------------


def _secret() -> bytes:
    secret = settings.ZOOM_WEBHOOK_SECRET_TOKEN
    if not secret:
        raise SignatureError("ZOOM_WEBHOOK_SECRET_TOKEN is not configured.")
    return secret.encode()


def sign(*, timestamp: str, body: bytes, secret: str | None = None) -> str:
    key = (secret or settings.ZOOM_WEBHOOK_SECRET_TOKEN).encode()
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_signature(*, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> None:
    """Zoom signs ``v0:{x-zm-request-timestamp}:{raw body}`` with the app's secret
    token. Checked on the raw bytes before anything is parsed; a timestamp more than
    five minutes off is refused so a captured request cannot be replayed later."""
    key = _secret()
    if not timestamp or not signature:
        raise SignatureError("Missing x-zm-request-timestamp or x-zm-signature.")
    try:
        ts = float(timestamp)
    except ValueError as exc:
        raise SignatureError("Malformed x-zm-request-timestamp.") from exc
    if ts > 1e12:  # milliseconds
        ts /= 1000
    if abs((now or time.time()) - ts) > SIGNATURE_TOLERANCE_SECONDS:
        raise SignatureError("Stale x-zm-request-timestamp.")
    expected = "v0=" + hmac.new(key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("Bad x-zm-signature.")


def url_validation_response(plain_token: str) -> dict[str, str]:
    encrypted = hmac.new(_secret(), plain_token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}


# --- OAuth app -----------------------------------------------------------------------------------


def authorize_url(*, state: str, redirect_uri: str) -> str:
    query = urlencode(
        {"response_type": "code", "client_id": settings.ZOOM_CLIENT_ID, "redirect_uri": redirect_uri, "state": state}
    )
    return f"{settings.ZOOM_OAUTH_URL}/oauth/authorize?{query}"


def _token_request(data: dict[str, str]) -> dict[str, Any]:
    try:
        resp = http_session().post(
            f"{settings.ZOOM_OAUTH_URL}/oauth/token",
            data=data,
            auth=(settings.ZOOM_CLIENT_ID, settings.ZOOM_CLIENT_SECRET),
        )
    except requests.RequestException as exc:
        raise ZoomError("Chorus could not reach Zoom to finish the installation. Try again in a minute.") from exc
    if resp.status_code != 200:
        reason = ""
        with contextlib.suppress(ValueError, AttributeError):
            reason = resp.json().get("reason") or resp.json().get("error") or ""
        raise ZoomError(f"Zoom refused the installation ({reason or resp.status_code}). Click Activate to try again.")
    return resp.json()


def tokens_from(payload: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    expires_at = timezone.now() + timedelta(seconds=int(payload.get("expires_in", 3600)) - 60)
    secrets = {
        "access_token": payload["access_token"],
        "refresh_token": payload.get("refresh_token", ""),
        "expires_at": expires_at.isoformat(),
    }
    return secrets, sorted(set((payload.get("scope") or "").split()))


def exchange_code(*, code: str, redirect_uri: str) -> dict[str, Any]:
    return _token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})


def has_recording_scope(scopes: list[str]) -> bool:
    return any(s.startswith(RECORDING_SCOPE_PREFIXES) for s in scopes)


class ZoomClient:
    """The Zoom REST API for one connection. Refreshes the hour-long access token
    when it expires (Zoom rotates the refresh token too, so both are saved)."""

    def __init__(self, connection):
        self.connection = connection
        self.session = http_session()

    def _access_token(self, *, force: bool = False) -> str:
        secrets = self.connection.secrets
        expires = secrets.get("expires_at")
        if force or not expires or datetime.fromisoformat(str(expires)) <= timezone.now():
            payload = _token_request(
                {"grant_type": "refresh_token", "refresh_token": str(secrets.get("refresh_token", ""))}
            )
            new, scopes = tokens_from(payload)
            self.connection.secrets = new
            if scopes:
                self.connection.config["scopes"] = scopes
            self.connection.save(update_fields=["secrets", "config", "updated_at"])
            return new["access_token"]
        return str(secrets["access_token"])

    def get(self, path: str) -> dict[str, Any]:
        for attempt in (0, 1):
            token = self._access_token(force=attempt == 1)
            try:
                resp = self.session.get(f"{settings.ZOOM_API_URL}{path}", headers={"Authorization": f"Bearer {token}"})
            except requests.RequestException as exc:
                raise ZoomError("Chorus could not reach Zoom. Try again in a minute.", transient=True) from exc
            if resp.status_code == 401 and attempt == 0:
                continue
            if resp.status_code == 404:
                raise ZoomError("Zoom does not know this meeting (it may have ended or been deleted).")
            if resp.status_code >= 400:
                try:
                    message = resp.json().get("message", "")
                except ValueError:
                    message = ""
                raise ZoomError(f"Zoom answered {resp.status_code}{': ' + message if message else ''}.",
                                transient=resp.status_code == 429 or resp.status_code >= 500)
            return resp.json()
        raise ZoomError("Zoom no longer accepts Chorus' access: click Activate to reinstall the app.")


def me(*, access_token: str) -> dict[str, Any]:
    try:
        resp = http_session(access_token=access_token).get(f"{settings.ZOOM_API_URL}/users/me")
    except requests.RequestException as exc:
        raise ZoomError("Chorus could not reach Zoom to finish the installation. Try again in a minute.") from exc
    if resp.status_code != 200:
        raise ZoomError(f"Zoom did not tell Chorus which account installed the app ({resp.status_code}).")
    return resp.json()


# --- Recording download -------------------------------------------------------------------------------


@dataclass
class Downloaded:
    size: int
    content_type: str
    sha256: str


def download_host_allowed(url: str) -> bool:
    """Recording URLs come from a signed payload, but Chorus still only fetches
    from Zoom's hosts (or the configured Zoom base URLs): no SSRF through a payload."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    configured = {urlsplit(u).hostname for u in (settings.ZOOM_API_URL, settings.ZOOM_OAUTH_URL)}
    if host in configured:
        return parts.scheme in ("http", "https")
    return parts.scheme == "https" and any(host == d or host.endswith("." + d) for d in ZOOM_DOWNLOAD_DOMAINS)


def download(*, url: str, token: str, dest: IO[bytes], max_bytes: int, attempts: int = 3,
             content_types: tuple[str, ...] = DOWNLOAD_CONTENT_TYPES) -> Downloaded:
    """Stream a recording into ``dest`` without holding it in memory. Refuses
    files over ``max_bytes`` and anything that is not audio/video (an HTML page
    means the token expired). A connection dropped mid-file resumes with a
    ``Range`` request from the bytes already written."""
    if not download_host_allowed(url):
        raise ZoomError("The recording's download address is not a Zoom address; it was not fetched.")
    session = http_session()
    digest = hashlib.sha256()
    written = 0
    content_type = ""
    for attempt in range(attempts):
        headers = {"Authorization": f"Bearer {token}"}
        if written:
            headers["Range"] = f"bytes={written}-"
        try:
            with session.get(url, headers=headers, stream=True) as resp:
                if resp.status_code in (401, 403):
                    raise ZoomError("Zoom refused the recording download (the download token may have expired).")
                if resp.status_code == 404:
                    raise ZoomError("Zoom no longer has this recording file.")
                if resp.status_code not in (200, 206):
                    raise ZoomError(f"Zoom answered {resp.status_code} to the recording download.",
                                    transient=resp.status_code == 429 or resp.status_code >= 500)
                content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if not content_type.startswith(content_types):
                    raise ZoomError(
                        f"Zoom sent {content_type or 'something unknown'} instead of a recording "
                        "(the download token may have expired)."
                    )
                if written and resp.status_code == 200:  # the server ignored Range: start again
                    dest.seek(0)
                    dest.truncate()
                    digest, written = hashlib.sha256(), 0
                length = resp.headers.get("Content-Length")
                if length and length.isdigit() and written + int(length) > max_bytes:
                    raise ZoomError(f"The recording is larger than the {max_bytes // (1024 * 1024)} MB limit.")
                for chunk in resp.iter_content(DOWNLOAD_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise ZoomError(f"The recording is larger than the {max_bytes // (1024 * 1024)} MB limit.")
                    digest.update(chunk)
                    dest.write(chunk)
            dest.flush()
            return Downloaded(size=written, content_type=content_type, sha256=digest.hexdigest())
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            if attempt == attempts - 1:
                raise ZoomError("The connection to Zoom kept dropping during the recording download.",
                                transient=True) from exc
            time.sleep(min(2**attempt, 5) * 0.1)
    raise ZoomError("The recording could not be downloaded.")  # pragma: no cover
