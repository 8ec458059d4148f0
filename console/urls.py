"""The console's pages, included at the site root by ``chorus/urls.py``."""

from django.urls import path

from console.views import recordings, settings

urlpatterns = [
    path("", recordings.home, name="home"),
    path("recordings/", recordings.RecordingListView.as_view(), name="recordings"),
    path("recordings/<int:pk>/", recordings.RecordingDetailView.as_view(), name="recording"),
    path("deals/", recordings.DealListView.as_view(), name="deals"),
    path("analytics/", recordings.AnalyticsView.as_view(), name="analytics"),
    path("settings/", settings.settings_home, name="settings"),
    path("settings/integrations/", settings.IntegrationsView.as_view(), name="settings-integrations"),
    path("settings/organization/", settings.OrganizationSettingsView.as_view(), name="settings-organization"),
    path("settings/roles/", settings.RoleListView.as_view(), name="settings-roles"),
    path("settings/roles/<int:pk>/", settings.RoleDetailView.as_view(), name="settings-role"),
    path("settings/personal/", settings.PersonalSettingsView.as_view(), name="settings-personal"),
    path("settings/personal/tokens/<int:pk>/revoke/", settings.ApiTokenRevokeView.as_view(),
         name="api-token-revoke"),
]
