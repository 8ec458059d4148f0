"""Settings > Integrations > Sync Outreach and Chorus: the admins' switch of the Chorus
tile (``console.outreach`` says what the tile is)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View

from chorus.views import OrgAdminMixin
from console import outreach


class OutreachSwitchView(OrgAdminMixin, View):
    """Chorus tile for Outreach: on or off (admins)."""

    def post(self, request):
        enabled = request.POST.get("enabled") == "on"
        outreach.outreach_tile_set(org=self.org, actor=request.user, enabled=enabled)
        messages.success(request, "The Chorus tile for Outreach is on: add it to your Account layout in Outreach."
                         if enabled else "The Chorus tile for Outreach is off: Outreach shows nothing from Chorus.")
        return redirect(reverse("settings-integrations") + "#outreach")
