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


TILE_PATH = "/integrations/outreach/tile/"  # the embedded view Outreach shows in its tile
CONNECT_PATH = "/integrations/outreach/connect/"  # where each user signs in to the tile once


def outreach_section(request, org: Organization) -> dict:
    """Context of Settings > Integrations > Sync Outreach and Chorus: the switch, the
    tile URL to give Outreach, and the seed's prerequisites as this org meets them."""
    from django.conf import settings

    from crm.providers.salesforce.connect import provider as salesforce
    from crm.services import crm_connection_get
    from dialers.services import dialer_connection_for
    from integrations.models import ConnectionStatus as S

    crm = crm_connection_get(org=org)
    dialer = dialer_connection_for(org=org, key="outreach")
    return {
        "enabled": outreach_tile_enabled(org=org),
        "admin": request.user.is_org_admin,
        "tile_url": settings.CHORUS_BASE_URL + TILE_PATH,
        "connect_url": settings.CHORUS_BASE_URL + CONNECT_PATH,
        "salesforce": crm if crm is not None and crm.provider == salesforce.key else None,
        "salesforce_synced": crm is not None and crm.provider == salesforce.key and crm.status == S.OK,
        "salesforce_syncing": crm is not None and crm.provider == salesforce.key and crm.status in (S.QUEUED,
                                                                                                  S.SYNCING),
        "outreach_dialer": dialer,
    }
