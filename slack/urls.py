"""Included by chorus/urls.py under ``integrations/slack/``."""

from django.urls import path

from slack import views
from slack.command_views import SlackCommandView

urlpatterns: list = [
    path("install", views.InstallView.as_view(), name="slack-install"),
    path("oauth/", views.InstallCallbackView.as_view(), name="slack-oauth-callback"),
    path("oauth/user/", views.IdentityCallbackView.as_view(), name="slack-identity-callback"),
    path("disconnect", views.DisconnectView.as_view(), name="slack-disconnect"),
    path("manifest.yml", views.ManifestView.as_view(), name="slack-manifest"),
    path("connect", views.IdentityConnectView.as_view(), name="slack-identity-connect"),
    path("connect/disconnect", views.IdentityDisconnectView.as_view(), name="slack-identity-disconnect"),
    path("events", views.EventsView.as_view(), name="slack-events"),
    path("commands", SlackCommandView.as_view(), name="slack-commands"),
]
