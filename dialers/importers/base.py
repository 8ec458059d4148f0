"""What every importer family shares: the call record they yield, the protocol
they implement, their errors, and the streamed, size-capped media download."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Protocol
from urllib.parse import urlsplit

import requests
from django.conf import settings

from integrations.calls import CallImportError, CallRecord  # noqa: F401 (re-exported)
from integrations.http import HttpSession, UnsafeUrl, public_url_check

# Recordings are audio or video; an HTML page means a login page or an expired link.
MEDIA_CONTENT_TYPES = ("audio/", "video/", "application/octet-stream", "binary/octet-stream")
CHUNK = 256 * 1024


# The whole run failed (an admin can act on it) / one call as found: shared with the
# CRMs that list dialer calls (integrations.calls).
DialerImportError = CallImportError


class MediaError(Exception):
    """One recording could not be fetched. ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Stored:
    size: int
    content_type: str


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


def copy_capped(chunks: Iterable[bytes], dest: IO[bytes], *, content_type: str, length: int | None,
                max_bytes: int) -> Stored:
    """Check the type and the announced size first, then copy chunk by chunk and
    stop as soon as the cap is passed (a server may lie about Content-Length)."""
    content_type = (content_type or "").split(";")[0].strip().lower()
    if not content_type.startswith(MEDIA_CONTENT_TYPES):
        raise MediaError(f"The recording link returned {content_type or 'an unknown type'} instead of audio "
                         "or video (a login page or an expired link?).", permanent=True)
    if length is not None and length > max_bytes:
        raise _too_big(max_bytes)
    written = 0
    for chunk in chunks:
        written += len(chunk)
        if written > max_bytes:
            raise _too_big(max_bytes)
        dest.write(chunk)
    if written == 0:
        raise MediaError("The recording link returned an empty file.")
    dest.flush()
    return Stored(size=written, content_type=content_type)


def http_fetch(session: HttpSession, url: str, dest: IO[bytes], *, max_bytes: int,
               auth=None, headers: dict | None = None) -> Stored:
    check_media_url(url)
    try:
        with session.get(url, stream=True, auth=auth, headers=headers, allow_redirects=True,
                         timeout=settings.DIALER_MEDIA_TIMEOUT) as resp:
            if resp.status_code in (401, 403):
                raise MediaError(f"The recording link refused Chorus (HTTP {resp.status_code}): check the "
                                 "dialer's credentials.")
            if resp.status_code == 404:
                raise MediaError("The recording link answered 404 Not Found (not uploaded yet, or deleted).")
            if resp.status_code >= 400:
                raise MediaError(f"The recording link answered HTTP {resp.status_code}.")
            length = resp.headers.get("Content-Length")
            return copy_capped(resp.iter_content(CHUNK), dest, content_type=resp.headers.get("Content-Type", ""),
                               length=int(length) if length and length.isdigit() else None, max_bytes=max_bytes)
    except requests.Timeout as exc:
        raise MediaError("The recording link did not answer in time.") from exc
    except requests.RequestException as exc:
        raise MediaError(f"Chorus could not reach the recording link ({type(exc).__name__}).") from exc
