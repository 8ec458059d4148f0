"""Conferencing URLs, mounted at /integrations/ (Zoom webhook, OAuth callbacks)."""

from django.urls import path, re_path

from integrations.conferencing import views

urlpatterns = [
    path("zoom/webhook", views.ZoomWebhookView.as_view(), name="zoom-webhook"),
    path("zoom/oauth/", views.OAuthCallbackView.as_view(), name="zoom-oauth-callback"),
    path("zoom/oauth/activate/", views.ActivateView.as_view(), name="zoom-activate"),
    path("zoom/oauth/reactivate/<str:token>/", views.ReactivateView.as_view(), name="zoom-reactivate"),
    path("zoom/settings/", views.ZoomSettingsView.as_view(), name="zoom-settings"),
    path("zoom/streaming-check/", views.StreamingCheckView.as_view(), name="zoom-streaming-check"),
    path("zoom/disconnect/", views.DisconnectView.as_view(), name="zoom-disconnect"),
]

from integrations.conferencing import notetaker_views  # noqa: E402

urlpatterns += [path("notetaker/webhook", notetaker_views.NotetakerWebhookView.as_view(), name="notetaker-webhook")]

from integrations.conferencing import calendar_views  # noqa: E402

urlpatterns += [
    path("calendar/ics/", calendar_views.CalendarIcsView.as_view(), name="calendar-ics"),
    path("calendar/<str:provider>/connect/", calendar_views.CalendarConnectView.as_view(), name="calendar-connect"),
    path("calendar/<int:pk>/sync/", calendar_views.CalendarSyncView.as_view(), name="calendar-sync"),
    path("meetings/<int:pk>/recording/", calendar_views.MeetingRecordingView.as_view(), name="meeting-recording"),
    path("calendar/<int:pk>/disconnect/", calendar_views.CalendarDisconnectView.as_view(), name="calendar-disconnect"),
    re_path(
        r"^(?P<provider>google|microsoft)/oauth/$",
        calendar_views.CalendarOAuthCallbackView.as_view(),
        name="calendar-oauth-callback",
    ),
]
