"""Outreach — the Chorus tile on Outreach's Account page (seed: "Sync Outreach and
Chorus"): an account's recordings inside Outreach. Admins switch it on under
Settings > Integrations > Sync Outreach and Chorus; the tile view
(``/integrations/outreach/tile/``) shows nothing for an org that has not."""

from __future__ import annotations

from chorus.models import Organization, User
from console.switches import switch_enabled, switch_set

PROVIDER = "outreach_tile"


def outreach_tile_enabled(*, org: Organization) -> bool:
    return switch_enabled(org=org, provider=PROVIDER)


def outreach_tile_set(*, org: Organization, actor: User | None, enabled: bool) -> None:
    switch_set(org=org, actor=actor, provider=PROVIDER, enabled=enabled, target="Sync Outreach and Chorus")
