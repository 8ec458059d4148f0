"""Registrable domains: the key people and accounts are matched by.

tldextract with its bundled public-suffix list, no network (``mail.acme.co.uk`` →
``acme.co.uk``). Participants store theirs (``Participant.email_domain``); the CRM
sync and account matching compute them the same way."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

import tldextract

# The bundled public-suffix snapshot only: no fetch at run time, no cache files.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@functools.lru_cache(maxsize=100_000)
def _host_registrable(host: str) -> str:
    host = host.strip().strip(".").lower()
    if "." not in host:
        return ""
    parts = _EXTRACT(host)
    if parts.ipv4 or parts.ipv6:
        return ""
    if parts.suffix:
        return parts.top_domain_under_public_suffix
    # Not a public suffix (.example, .local, a private corporate TLD): treat the last
    # two labels as the company, which is what the host means in practice.
    return ".".join(host.split(".")[-2:])


def registrable_domain(value: str) -> str:
    """The registrable domain of an email address, URL or host name
    (``ann@mail.acme.co.uk`` → ``acme.co.uk``), or ``""`` when it has none
    (an IP address, a bare host, an empty value)."""
    value = (value or "").strip()
    if not value:
        return ""
    if "://" in value:
        host = urlsplit(value).hostname or ""
    elif "@" in value:
        host = value.rsplit("@", 1)[1]
    else:
        host = value.split("/", 1)[0].split(":", 1)[0]
    return _host_registrable(host)
