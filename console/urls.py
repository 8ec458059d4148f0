"""The console's pages, included at the site root by ``chorus/urls.py``."""

from django.urls import path

from console.views import accounts, clari, outreach, recordings, settings, trackers

urlpatterns = [
    path("", recordings.home, name="home"),
    path("recordings/", recordings.RecordingListView.as_view(), name="recordings"),
    path("recordings/<int:pk>/", recordings.RecordingDetailView.as_view(), name="recording"),
    path("recordings/<int:pk>/processing/retry/", recordings.ProcessingRetryView.as_view(), name="processing-retry"),
    path("deals/", recordings.DealListView.as_view(), name="deals"),
    path("accounts/<int:pk>/", accounts.AccountDetailView.as_view(), name="account"),
    path("opportunities/<int:pk>/", accounts.OpportunityDetailView.as_view(), name="opportunity"),
    path("analytics/", recordings.AnalyticsView.as_view(), name="analytics"),
    path("clari/connect/", clari.ClariConnectView.as_view(), name="clari-connect"),
    path("clari/<str:kind>/<int:pk>/", clari.clari_embed, name="clari-embed"),
    path("settings/integrations/clari/", clari.ClariSwitchView.as_view(), name="clari-switch"),
    path("settings/integrations/outreach/", outreach.OutreachSwitchView.as_view(), name="outreach-switch"),
    path("settings/", settings.settings_home, name="settings"),
    path("settings/integrations/", settings.IntegrationsView.as_view(), name="settings-integrations"),
    path("settings/organization/", settings.OrganizationSettingsView.as_view(), name="settings-organization"),
    path("settings/roles/", settings.RoleListView.as_view(), name="settings-roles"),
    path("settings/roles/<int:pk>/", settings.RoleDetailView.as_view(), name="settings-role"),
    path("settings/trackers/", trackers.TrackerListView.as_view(), name="settings-trackers"),
    path("settings/trackers/restore/", trackers.TrackerRestoreDefaultsView.as_view(), name="settings-trackers-restore"),
    path("settings/trackers/<int:pk>/", trackers.TrackerEditView.as_view(), name="settings-tracker"),
    path("settings/trackers/<int:pk>/delete/", trackers.TrackerDeleteView.as_view(), name="settings-tracker-delete"),
    path("settings/personal/", settings.PersonalSettingsView.as_view(), name="settings-personal"),
    path("settings/personal/tokens/<int:pk>/revoke/", settings.ApiTokenRevokeView.as_view(),
         name="api-token-revoke"),
]
