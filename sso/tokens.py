"""SCIM bearer tokens: created, revoked and checked here (the SSO page, the
``scim_token`` command and the SCIM auth middleware all call these)."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from sso.models import ScimToken

PREFIX = "scim_"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def scim_token_create(*, org, created_by=None, name: str = "") -> tuple[ScimToken, str]:
    """Return the new token row and its raw value (shown once, never stored)."""
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ScimToken.objects.create(org=org, name=name[:100], prefix=raw[: len(PREFIX) + 6],
                                     token_hash=_hash(raw), created_by=created_by)
    return token, raw


def scim_token_revoke(*, token: ScimToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def scim_token_authenticate(*, raw: str) -> ScimToken | None:
    """The active token with this value, or None. The lookup is by SHA-256 hash
    through a unique index, so timing reveals nothing about stored tokens."""
    if not raw:
        return None
    token = ScimToken.objects.select_related("org").filter(token_hash=_hash(raw), revoked_at__isnull=True).first()
    if token is not None:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token
