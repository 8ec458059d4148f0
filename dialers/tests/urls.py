"""Test urlconf: the project's URLs, with the dialer URLs at their final prefix
(included here in case the project urlconf does not mount them yet)."""

from django.urls import include, path

from chorus.urls import urlpatterns as project_urlpatterns

_mounted = any(getattr(getattr(p, "urlconf_name", None), "__name__", "") == "dialers.urls"
               for p in project_urlpatterns)
urlpatterns = list(project_urlpatterns) if _mounted else [
    path("settings/integrations/dialers/", include("dialers.urls")), *project_urlpatterns]
