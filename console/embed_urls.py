"""The embedded views' URLs. chorus/urls.py includes them as
``path("integrations/", include("console.embed_urls"))``: the Salesforce canvas URL is
the architecture's contract (``/integrations/salesforce/canvas/``); the Outreach tile
and its first-party sign-in sit under ``/integrations/outreach/`` (the tile cookie's
path)."""

from django.urls import path

from console.views import embeds

urlpatterns = [
    path("salesforce/canvas/", embeds.salesforce_canvas, name="salesforce-canvas"),
    path("outreach/tile/", embeds.outreach_tile, name="outreach-tile"),
    path("outreach/connect/", embeds.OutreachConnectView.as_view(), name="outreach-connect"),
]
