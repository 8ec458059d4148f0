"""Clari — Momentum by Chorus: an opportunity's or account's conversations shown
inside Clari's Deal and Account views (seed: "Clari Integration").

Clari frames Chorus pages from its own origin, so two things are only relaxed for
the embedded views (``/clari/…``), never for the rest of Chorus:

* framing: ``Content-Security-Policy: frame-ancestors <CLARI_FRAME_ORIGIN>`` instead of
  ``X-Frame-Options: DENY``;
* the sign-in: the seed says users "log in to their Chorus instance". Chorus' session
  cookie is ``SameSite=Lax``, which a browser does not send inside a third-party frame.
  So a user who opens ``/clari/connect/`` (first-party, signed in) gets a separate,
  signed, expiring cookie scoped to ``/clari/`` with ``SameSite=None; Secure``; the
  embedded views accept only that cookie (and only for a user of an org whose admin
  switched Clari on).

The switch is a :class:`~integrations.models.Connection` (provider ``clari``) so it
has a status and an audit trail like every integration.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core import signing

from chorus.models import Organization, User
from console.switches import switch_enabled, switch_set

PROVIDER = "clari"
COOKIE = "chorus_clari"
COOKIE_PATH = "/clari/"
COOKIE_MAX_AGE = 30 * 24 * 3600  # a month, then the user connects again
SALT = "console.clari.embed"


def clari_section(request, org: Organization) -> dict:
    """Context of Settings > Integrations > Clari Integration."""
    from django.conf import settings

    return {"enabled": clari_enabled(org=org), "enterprise": org.is_enterprise,
            "admin": request.user.is_org_admin, "origin": settings.CLARI_FRAME_ORIGIN}


def clari_enabled(*, org: Organization) -> bool:
    return switch_enabled(org=org, provider=PROVIDER)


def clari_set(*, org: Organization, actor: User | None, enabled: bool) -> None:
    """The admins' switch on Settings > Integrations > Clari Integration."""
    switch_set(org=org, actor=actor, provider=PROVIDER, enabled=enabled, target="Clari Integration")


def signed_user_token(*, user: User, salt: str) -> str:
    """An embedded view's sign-in: who, bound to the user's password hash (a password
    change or a deactivation ends it), signed with the embed's own salt and dated.
    Clari's views and the Outreach tile each use their own salt and cookie."""
    return signing.dumps({"u": user.pk, "h": user.password[-12:]}, salt=salt)


def signed_user(token: str | None, *, salt: str, max_age: int,
                enabled: Callable[..., bool] | None = None) -> User | None:
    """The active user a fresh token of that salt names (and, with ``enabled``, only
    while ``enabled(org=…)`` holds for their org); else None."""
    if not token:
        return None
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user = User.objects.select_related("org").filter(pk=data.get("u"), is_active=True).first()
    if user is None or user.org is None or user.password[-12:] != data.get("h"):
        return None
    return user if enabled is None or enabled(org=user.org) else None


def embed_token(*, user: User) -> str:
    """Clari's embedded views' sign-in token."""
    return signed_user_token(user=user, salt=SALT)


def embed_user(token: str | None) -> User | None:
    """The user a Clari embed cookie names, while it is fresh, the user active and their
    org's Clari switch on; else None."""
    return signed_user(token, salt=SALT, max_age=COOKIE_MAX_AGE, enabled=clari_enabled)
