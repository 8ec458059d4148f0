"""RelayState: where the browser goes after sign-in. The seed's format is base64 of
``redirect=<url-encoded local path>``. A target off-site is never followed: the
sign-in still succeeds (an IdP's misconfigured default must not lock people out) and
the person lands on the home page with a notice. Kept apart and small enough to audit."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme

HOME = "/"
MAX_RELAY_STATE = 4096
# Old Chorus pages that IdP defaults still name. The seed's Azure example RelayState
# decodes to "/my-profile?": the user's own settings are Personal Settings now.
LEGACY_PATHS = {"/my-profile": "/settings/personal/"}
# "https:evil.example", "javascript:…": a scheme, with or without "//".
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class RelayTarget:
    """Where to go (always a path on this site) and whether the RelayState asked
    for somewhere else, which the person is told about."""

    path: str
    refused: bool = False


def relay_state_encode(path: str) -> str:
    return base64.b64encode(f"redirect={quote(path, safe='')}".encode()).decode()


def _unquoted_forms(path: str) -> list[str]:
    """``path`` and what it becomes when decoded again, as a server or browser that
    decodes once more would see it (``/%2F%2Fevil`` → ``///evil``)."""
    forms = [path]
    for _ in range(3):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return forms


def safe_local_path(path: str | None) -> str | None:
    """``path`` if it is a path on this site, else None: it starts with one ``/``,
    has no scheme or host, no backslash (browsers read ``/\\evil`` as ``//evil``), no
    whitespace or control characters (browsers drop tabs and newlines, so
    ``/\\t/evil`` is ``//evil``), and stays so when percent-decoded again."""
    if not path or any(c.isspace() for c in path):
        return None
    for form in _unquoted_forms(path):
        # Decoding again may turn a harmless query ("?q=a%20b") into spaces: only
        # what could change the host is checked past the first form.
        if not form.startswith("/") or form.startswith("//") or "\\" in form:
            return None
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in form):
            return None
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return None
        if not url_has_allowed_host_and_scheme(url=form, allowed_hosts=set(), require_https=False):
            return None
    return path


def _local_target(target: str) -> str | None:
    """A local path for ``target``: a path on this site, or an absolute URL on
    CHORUS_BASE_URL's origin reduced to its path. None for anything elsewhere."""
    if target.startswith(("http://", "https://")):
        base = settings.CHORUS_BASE_URL
        if target == base or target.startswith(base + "/"):
            target = target[len(base):] or HOME
        else:
            return None
    path = safe_local_path(target)
    if path is None:
        return None
    bare = path.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return LEGACY_PATHS.get(bare, path)


def _target(target: str) -> RelayTarget:
    path = _local_target(target)
    return RelayTarget(HOME, refused=True) if path is None else RelayTarget(path)


def relay_state_target(value: str | None) -> RelayTarget:
    """Where a RelayState asks to go after sign-in.

    * the seed's format, base64 of ``redirect=<url-encoded local path>``: that path;
    * a bare local path (or a URL on Chorus's own origin): that path;
    * an old Chorus page (``/my-profile``): where it lives now;
    * empty, or anything that does not parse (the seed's JumpCloud example
      ``cmVkaXJIY3Q9Lw==`` decodes to ``redirHct=/``): the home page;
    * a target on another site (``https://evil.example``, ``//evil``, ``/\\evil``,
      ``https:evil``, ``/%2F%2Fevil``…): the home page, ``refused`` so the person is
      told the link wanted to take them elsewhere.
    """
    value = (value or "").strip()
    if not value:
        return RelayTarget(HOME)
    if len(value) > MAX_RELAY_STATE:
        return RelayTarget(HOME, refused=True)
    if value.startswith(("/", "\\")) or _SCHEME.match(value):
        return _target(value)  # base64 has no ":" or "\\": this is a URL or a path
    try:
        padded = value + "=" * (-len(value) % 4)
        decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return RelayTarget(HOME)
    if not decoded.startswith("redirect="):
        return RelayTarget(HOME)
    target = unquote(decoded[len("redirect="):]).strip()
    return _target(target) if target else RelayTarget(HOME)


def relay_state_decode(value: str | None) -> str:
    """The local path a RelayState asks for, "/" for anything else."""
    return relay_state_target(value).path
