"""RelayState: where the browser goes after sign-in. The seed's format is base64 of
``redirect=<url-encoded local path>``; anything leading off-site is a phishing link
and is refused, so this is kept apart and small enough to audit."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote, unquote

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme


def relay_state_encode(path: str) -> str:
    return base64.b64encode(f"redirect={quote(path, safe='')}".encode()).decode()


def safe_local_path(path: str | None) -> str | None:
    """``path`` if it is a path on this site (no scheme, no host, no ``//`` or
    ``/\\`` that browsers read as another host, no control characters), else None."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 0x20 or c.isspace() for c in path):
        return None
    if not url_has_allowed_host_and_scheme(url=path, allowed_hosts=set(), require_https=False):
        return None
    return path


def _local_target(target: str) -> str | None:
    """A local path for ``target``: a path on this site, or an absolute URL on
    CHORUS_BASE_URL's origin reduced to its path. None for anything elsewhere."""
    if target.startswith(("http://", "https://")):
        base = settings.CHORUS_BASE_URL
        if target == base or target.startswith(base + "/"):
            target = target[len(base):] or "/"
        else:
            return None
    return safe_local_path(target)


def relay_state_target(value: str | None) -> str | None:
    """Where a RelayState asks to go after sign-in.

    * the seed's format, base64 of ``redirect=<url-encoded local path>``: that path;
    * a bare local path (or a URL on Chorus's own origin): that path;
    * empty, or anything that does not parse (the seed's JumpCloud example
      ``cmVkaXJIY3Q9Lw==`` decodes to ``redirHct=/``): "/";
    * a parsable target on another host (``https://evil.example``, ``//evil``,
      ``/\\evil``): None, and the sign-in is refused: it is a phishing link.
    """
    value = (value or "").strip()
    if not value:
        return "/"
    if len(value) > 4096:
        return None
    if value.startswith(("/", "http://", "https://")):
        return _local_target(value)
    try:
        padded = value + "=" * (-len(value) % 4)
        decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return "/"
    if not decoded.startswith("redirect="):
        return "/"
    target = unquote(decoded[len("redirect="):]).strip()
    return _local_target(target) if target else "/"


def relay_state_decode(value: str | None) -> str:
    """The local path a RelayState asks for, "/" for anything else."""
    return relay_state_target(value) or "/"
