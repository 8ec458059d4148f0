"""The Slack app manifest with this site's address filled in."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

MANIFEST = Path(__file__).with_name("manifest.yml")


def manifest_text(*, base_url: str | None = None) -> str:
    return MANIFEST.read_text().replace("{base}", (base_url or settings.CHORUS_BASE_URL).rstrip("/"))
