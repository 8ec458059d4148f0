"""The project's URLs plus crm.push.urls, for tests until chorus/urls.py includes them."""

from django.urls import include, path

from chorus.urls import urlpatterns as chorus_urlpatterns

urlpatterns = [
    path("settings/integrations/crm-objects/", include("crm.push.urls")),
    path("crm-fields/", include("crm.push.console_urls")),
    *chorus_urlpatterns,
]
