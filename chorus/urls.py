from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chorus import views
from integrations.views import IntegrationsView
from sso.views import SsoSettingsView

admin.site.site_header = "Chorus support"
admin.site.site_title = "Chorus support"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("recordings/", views.RecordingListView.as_view(), name="recordings"),
    path("recordings/<int:pk>/", views.RecordingDetailView.as_view(), name="recording"),
    path("deals/", views.DealListView.as_view(), name="deals"),
    path("analytics/", views.AnalyticsView.as_view(), name="analytics"),
    path("settings/", views.settings_home, name="settings"),
    path("settings/integrations/", IntegrationsView.as_view(), name="settings-integrations"),
    path("settings/organization/", views.OrganizationSettingsView.as_view(), name="settings-organization"),
    path("settings/organization/display-as/", views.DisplayAsView.as_view(), name="settings-display-as"),
    path("settings/roles/", views.RoleListView.as_view(), name="settings-roles"),
    path("settings/roles/<int:pk>/", views.RoleDetailView.as_view(), name="settings-role"),
    path("settings/personal/", views.PersonalSettingsView.as_view(), name="settings-personal"),
    path("settings/personal/tokens/<int:pk>/revoke/", views.ApiTokenRevokeView.as_view(), name="api-token-revoke"),
    path("settings/sso/", SsoSettingsView.as_view(), name="settings-sso"),
    path("admin/", admin.site.urls),
    path("api/scim/v2/", include("sso.scim_urls")),
    path("integrations/", include("crm.urls")),
    path("integrations/", include("integrations.conferencing.urls")),
    path("settings/integrations/bucket/", include("integrations.storage.urls")),
    path("settings/integrations/dialers/", include("dialers.urls")),
    path("settings/integrations/crm-objects/", include("crm.push.urls")),
    path("crm-fields/", include("crm.push.console_urls")),
    path("", include("sso.saml_urls")),
]
