"""HTTP helpers shared by every outbound client."""

from __future__ import annotations

import ipaddress
import os
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.sessions import merge_setting
from requests.utils import getproxies

DEFAULT_TIMEOUT = (5, 30)  # connect, read (seconds)
USER_AGENT = "Chorus-Integrations/1.0"


def ca_bundle() -> str | bool:
    """What outbound HTTPS trusts: the ``REQUESTS_CA_BUNDLE`` setting when set
    (staging, tests), else the default store."""
    from django.conf import settings

    return settings.REQUESTS_CA_BUNDLE or True


class HttpSession(requests.Session):
    """The one requests session every third-party client goes through: a default
    timeout on every call, the CA bundle from settings, Chorus's user agent, and the
    last response kept so callers can read rate-limit headers that a client
    library's exceptions do not carry. Build it with :func:`http_session`.

    No automatic retries: a write whose answer was lost has an unknown outcome, and
    only the caller knows how to look it up before sending it again."""

    timeout: Any = DEFAULT_TIMEOUT

    def __init__(self, *, timeout: Any = None, access_token: str = "", user_agent: str = USER_AGENT):
        super().__init__()
        self.verify = ca_bundle()
        if timeout is not None:
            self.timeout = timeout
        self.headers["User-Agent"] = user_agent
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"
        self.last_response: requests.Response | None = None
        # The environment's proxy settings, read once: requests reads and decodes the
        # whole environment twice per request to find them — more CPU than a small
        # download. None configured (the usual case) leaves nothing to look up per URL.
        self._env_proxies = getproxies() if self.trust_env else {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if self.trust_env and self._env_proxies:  # proxies (and no_proxy) apply per URL: requests' own rules
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.trust_env and verify in (True, None):
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        return {"proxies": merge_setting(proxies, self.proxies), "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify), "cert": merge_setting(cert, self.cert)}

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        # requests lets a REQUESTS_CA_BUNDLE environment variable override a session's
        # own ``verify``; the session's (from settings) is the one that counts.
        kwargs.setdefault("verify", self.verify)
        self.last_response = None
        response = super().request(method, url, *args, **kwargs)
        self.last_response = response
        return response


def http_session(*, timeout: Any = None, access_token: str = "", user_agent: str = USER_AGENT) -> HttpSession:
    """A new :class:`HttpSession` (timeouts, CA bundle, user agent, optional bearer token)."""
    return HttpSession(timeout=timeout, access_token=access_token, user_agent=user_agent)


def parse_retry_after(value: str | None, *, default: float = 60.0, now: datetime | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.
    A missing or unparseable value gives ``default``; never negative."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class UnsafeUrl(ValueError):
    """A URL Chorus will not fetch, with a sentence for the person who typed it."""


PRIVATE_NETWORK = "This address points inside a private network; Chorus does not fetch it."


def public_url_check(url: str, *, allow_http: bool = False, allow_private: bool = False,
                     allow_unresolvable: bool = False) -> str:
    """Addresses typed by admins, users or anyone who can edit a CRM field are
    fetched only when every address their host resolves to is a public one — never
    Chorus' own network or a cloud metadata service (SSRF). ``allow_private`` is for
    tests and staging. Fetch the URL without following redirects."""
    parts = urlsplit(url)
    if parts.scheme not in (("https", "http") if allow_http else ("https",)) or not parts.hostname:
        raise UnsafeUrl("Enter a full web address starting with https://." if not allow_http
                        else "Enter a full web address (http or https).")
    if allow_private:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        if allow_unresolvable:  # the request itself then fails with its own clear error
            return url
        raise UnsafeUrl(f"{parts.hostname} could not be found.") from exc
    if any(not ipaddress.ip_address(info[4][0].split("%")[0]).is_global for info in infos):
        raise UnsafeUrl(PRIVATE_NETWORK)
    return url
