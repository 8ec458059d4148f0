"""Clari — Momentum by Chorus (``console.clari`` says how the embedding works)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.decorators.clickjacking import xframe_options_exempt

from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin, OrgMemberMixin
from console import clari
from console.views.accounts import engagements_page
from crm.models import CrmAccount, CrmOpportunity


class ClariSwitchView(OrgAdminMixin, View):
    """Settings > Integrations > Clari Integration: on or off (admins, Enterprise)."""

    def post(self, request):
        if not self.org.is_enterprise:
            raise PermissionDenied("Clari Integration needs the Enterprise package.")
        enabled = request.POST.get("enabled") == "on"
        clari.clari_set(org=self.org, actor=request.user, enabled=enabled)
        messages.success(request, "Momentum by Chorus is on for Clari." if enabled
                         else "Momentum by Chorus is off: Clari shows nothing from Chorus.")
        return redirect(reverse("settings-integrations") + "#clari")


class ClariConnectView(OrgMemberMixin, View):
    """Opened first-party (a new tab from the frame): signs this browser in for the
    embedded views, then says to go back to Clari."""

    def get(self, request):
        enabled = clari.clari_enabled(org=self.org)
        response = render(request, "console/clari_connect.html", {"enabled": enabled})
        if enabled:
            response.set_cookie(clari.COOKIE, clari.embed_token(user=request.user), max_age=clari.COOKIE_MAX_AGE,
                                path=clari.COOKIE_PATH, secure=True, httponly=True, samesite="None")
        return response


def _framed(response):
    """Framable by Clari's origin only (CSP frame-ancestors; X-Frame-Options lifted
    for this response, as it cannot name an origin)."""
    response["Content-Security-Policy"] = f"frame-ancestors {settings.CLARI_FRAME_ORIGIN}"
    return response


@xframe_options_exempt
def clari_embed(request, kind: str, pk: int):
    """``/clari/accounts/<pk>/`` and ``/clari/opportunities/<pk>/``: the conversations,
    newest first, each opening in Chorus (a new tab)."""
    user = clari.embed_user(request.COOKIES.get(clari.COOKIE))
    if user is None:
        return _framed(render(request, "console/clari_embed.html", {"signed_out": True}, status=401))
    model = {"accounts": CrmAccount, "opportunities": CrmOpportunity}.get(kind)
    if model is None:
        raise Http404
    record = get_for_org_or_404(model.objects.all(), user.org, pk=pk)
    page = engagements_page(request, user.org, **{"account" if kind == "accounts" else "opportunity": record})
    return _framed(render(request, "console/clari_embed.html", {"record": record, "page": page, "kind": kind,
                                                                "user": user}))
