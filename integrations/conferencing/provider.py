"""Zoom as the registry describes it. Besides meetings, Zoom's API serves another
app's integration: the Zoom Phone dialer reads call recordings through the same
Chorus Zoom app, so it asks the registry for an API client instead of importing
this app."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.registry import Provider


@dataclass(frozen=True)
class ZoomProvider(Provider):
    def api_client(self, *, org):
        """A client on the org's Chorus Zoom app (tokens refreshed and saved), or
        None when the app is not installed."""
        from integrations.conferencing.services import zoom_connection_get
        from integrations.conferencing.zoom import ZoomClient
        from integrations.models import ConnectionStatus

        zoom = zoom_connection_get(org=org)
        if zoom is None or zoom.status == ConnectionStatus.DISCONNECTED:
            return None
        return ZoomClient(zoom)
