"""What every importer family shares: the call record they yield, the protocol
they implement, their errors, and the streamed, size-capped media download (its
redirects followed one checked hop at a time, its first bytes checked against the
audio and video containers, its SHA-256 computed on the way)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from dialers.importers.containers import HEAD_BYTES, media_kind, not_media_description
from integrations.calls import CallImportError, CallRecord  # noqa: F401 (re-exported)
from integrations.http import HttpSession, UnsafeUrl, parse_retry_after, public_url_check

# Recordings are audio or video; an HTML page means a login page or an expired link.
MEDIA_CONTENT_TYPES = ("audio/", "video/", "application/octet-stream", "binary/octet-stream")
CHUNK = 256 * 1024
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Answers worth another try within the same run (a busy or restarting server).
RETRY_SOON = frozenset({408, 425, 429, 500, 502, 503, 504})
# How storage services word an expired signed link (S3 "Request has expired",
# S3/GCS "ExpiredToken", Azure "Signed expiry time…" / "…not valid in the specified
# time frame"). A refusal that says so is final: new credentials would not revive it.
EXPIRED_LINK = re.compile(rb"request has expired|expiredtoken|(?:token|link|url|signature) (?:has )?expired|"
                          rb"signed expiry time|not valid in the specified time frame", re.IGNORECASE)
ERROR_BODY_BYTES = 4096


# The whole run failed (an admin can act on it) / one call as found: shared with the
# CRMs that list dialer calls (integrations.calls).
DialerImportError = CallImportError


class MediaError(Exception):
    """One recording could not be fetched. ``permanent`` ones are never tried again;
    ``retry_soon`` ones (a busy server, a timeout) are worth another try within the
    same run, after ``retry_after`` seconds when the server said so; the others wait
    for the next hourly run (not uploaded yet, credentials being fixed)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_soon: bool = False,
                 retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_soon = retry_soon
        self.retry_after = retry_after


@dataclass
class Stored:
    size: int
    content_type: str
    sha256: str = ""  # hex digest of the bytes written
    file_type: str = ""  # the container its first bytes announce: MP3, WAV, M4A…


class Importer(Protocol):
    """One family bound to one connection."""

    def pages(self, *, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        """Calls in ``[since, until)``, a page at a time (one page in memory)."""

    def fetch_media(self, record_source: str, dest: IO[bytes], *, max_bytes: int) -> Stored:
        """Stream one recording into ``dest``; raise :class:`MediaError`."""


def max_media_bytes() -> int:
    return int(settings.DIALER_MEDIA_MAX_BYTES)


def check_media_url(url: str) -> None:
    """Recording URLs come from CRM task fields anyone in the CRM can edit:
    only http(s), and never an address inside Chorus' own network (SSRF), unless
    ``DIALER_MEDIA_ALLOW_PRIVATE_HOSTS`` (local servers in tests and staging)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaError("The recording link is not a web address (http or https).", permanent=True)
    try:
        public_url_check(url, allow_http=True, allow_unresolvable=True,
                         allow_private=settings.DIALER_MEDIA_ALLOW_PRIVATE_HOSTS)
    except UnsafeUrl as exc:
        raise MediaError("The recording link points inside a private network; Chorus does not fetch it.",
                         permanent=True) from exc


def _too_big(max_bytes: int) -> MediaError:
    return MediaError(f"The recording is larger than the {max_bytes // (1024 * 1024)} MB limit.", permanent=True)


def _kind(head: bytes, content_type: str) -> str:
    kind = media_kind(head)
    if kind is None:
        raise MediaError(f"The recording link returned {not_media_description(head)} instead of a recording, "
                         f"though served as {content_type} (a sign-in page or an expired link?).", permanent=True)
    return kind


def copy_capped(chunks: Iterable[bytes], dest: IO[bytes], *, content_type: str, length: int | None,
                max_bytes: int) -> Stored:
    """Check the type and the announced size first, then copy chunk by chunk: the
    first bytes must open an audio or video container (a server may call a sign-in
    page audio/mpeg), the cap holds as soon as it is passed (a server may lie about
    Content-Length), and the SHA-256 is computed on the way (no second read)."""
    content_type = (content_type or "").split(";")[0].strip().lower()
    if not content_type.startswith(MEDIA_CONTENT_TYPES):
        raise MediaError(f"The recording link returned {content_type or 'an unknown type'} instead of audio "
                         "or video (a login page or an expired link?).", permanent=True)
    if length is not None and length > max_bytes:
        raise _too_big(max_bytes)
    digest = hashlib.sha256()
    head, kind, written = b"", "", 0
    for chunk in chunks:
        if not chunk:
            continue
        if not kind:
            head = (head + chunk)[:HEAD_BYTES]
            if len(head) >= HEAD_BYTES:
                kind = _kind(head, content_type)
        written += len(chunk)
        if written > max_bytes:
            raise _too_big(max_bytes)
        digest.update(chunk)
        dest.write(chunk)
    if written == 0:
        raise MediaError("The recording link returned an empty file.")
    kind = kind or _kind(head, content_type)
    dest.flush()
    return Stored(size=written, content_type=content_type, sha256=digest.hexdigest(), file_type=kind)


def _error_body(resp: requests.Response) -> bytes:
    try:
        return next(resp.iter_content(ERROR_BODY_BYTES), b"")[:ERROR_BODY_BYTES]
    except requests.RequestException:
        return b""


def _duration(seconds: float) -> str:
    return f"{round(seconds)} s" if seconds < 120 else f"{round(seconds / 60)} min"


def _refusal(resp: requests.Response) -> MediaError:
    """An error answer as a sentence, with whether and when to try again."""
    status = resp.status_code
    if status == 410:
        return MediaError("The recording link answered 410 Gone: the dialer deleted the recording.", permanent=True)
    if status in (400, 401, 403) and EXPIRED_LINK.search(_error_body(resp)):
        return MediaError(f"The recording link has expired (HTTP {status}): it was a signed link valid for a limited "
                          "time, and Chorus cannot download it any more.", permanent=True)
    if status in (401, 403):
        return MediaError(f"The recording link refused Chorus (HTTP {status}): check the dialer's credentials.")
    if status == 404:
        return MediaError("The recording link answered 404 Not Found (not uploaded yet, or deleted).")
    if status in RETRY_SOON:
        header = resp.headers.get("Retry-After")
        wait = parse_retry_after(header) if header else None
        asked = f"; it asked Chorus to wait {_duration(wait)}" if wait else ""
        return MediaError(f"The recording link answered HTTP {status} ({resp.reason or 'server busy'}){asked}.",
                          retry_soon=True, retry_after=wait)
    if status < 500:
        return MediaError(f"The recording link answered HTTP {status} ({resp.reason or 'refused'}); another try "
                          "would get the same answer.", permanent=True)
    return MediaError(f"The recording link answered HTTP {status}.")


def http_fetch(session: HttpSession, url: str, dest: IO[bytes], *, max_bytes: int,
               auth=None, headers: dict | None = None) -> Stored:
    """Download one recording. Redirects are followed here, not by requests, so that
    every hop passes :func:`check_media_url` (a public link may redirect into
    Chorus' network): at most ``MAX_REDIRECTS``, a loop refused at once, and the
    dialer's credentials sent only to the link's own host, never to one it redirects to."""
    origin = urlsplit(url).hostname
    seen: set[str] = set()
    for _hop in range(MAX_REDIRECTS + 1):
        check_media_url(url)
        seen.add(url)
        own_host = urlsplit(url).hostname == origin
        try:
            with session.get(url, stream=True, auth=auth if own_host else None,
                             headers=headers if own_host else None, allow_redirects=False,
                             timeout=settings.DIALER_MEDIA_TIMEOUT) as resp:
                if resp.status_code in REDIRECTS and resp.headers.get("Location"):
                    url = urljoin(url, resp.headers["Location"])
                    if url in seen:
                        raise MediaError("The recording link redirects in a loop; Chorus cannot download it.",
                                         permanent=True)
                    continue
                if resp.status_code >= 400:
                    raise _refusal(resp)
                length = resp.headers.get("Content-Length")
                return copy_capped(resp.iter_content(CHUNK), dest, content_type=resp.headers.get("Content-Type", ""),
                                   length=int(length) if length and length.isdigit() else None,
                                   max_bytes=max_bytes)
        except requests.Timeout as exc:
            raise MediaError("The recording link did not answer in time.", retry_soon=True) from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise MediaError(f"Chorus could not reach the recording link ({type(exc).__name__}).",
                             retry_soon=True) from exc
        except requests.RequestException as exc:
            raise MediaError(f"Chorus could not reach the recording link ({type(exc).__name__}).") from exc
    raise MediaError(f"The recording link redirected more than {MAX_REDIRECTS} times; Chorus stopped following it.",
                     permanent=True)
