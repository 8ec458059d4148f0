from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chorus import views
from crm.urls import package_urlpatterns as crm_package_urls
from integrations.conferencing.calendar_views import DisplayAsView
from integrations.storage.urls import signed_media_urlpatterns
from sso.views import SsoSettingsView

admin.site.site_header = "Chorus support"
admin.site.site_title = "Chorus support"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Recordings, Deals, Analytics, the engagement page and the settings pages.
    path("", include("console.urls")),
    # Organization Settings > Meeting Recording Rules > Display As (conferencing's section).
    path("settings/organization/display-as/", DisplayAsView.as_view(), name="settings-display-as"),
    path("settings/sso/", SsoSettingsView.as_view(), name="settings-sso"),
    path("admin/", admin.site.urls),
    path("api/scim/v2/", include("sso.scim.urls")),
    path("integrations/", include("crm.urls")),
    path("integrations/", include("console.embed_urls")),  # Salesforce canvas, Outreach tile
    path("integrations/media/", include(signed_media_urlpatterns)),  # their players' signed recording URLs
    path("integrations/", include("integrations.conferencing.urls")),
    path("integrations/", include("integrations.streaming.urls")),
    path("integrations/slack/", include("slack.urls")),
    path("api/v1/", include("api.urls")),
    path("settings/integrations/bucket/", include("integrations.storage.urls")),
    path("settings/integrations/gainsight/", include("gainsight.urls")),
    path("settings/integrations/dialers/", include("dialers.urls")),
    path("settings/integrations/crm-objects/", include("crm.push.urls")),
    path("settings/integrations/salesforce/package/", include(crm_package_urls)),  # Install Salesforce Package
    path("crm-fields/", include("crm.push.console_urls")),
    path("", include("sso.saml.urls")),
]
