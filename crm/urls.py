"""Included by chorus/urls.py as ``path("integrations/", include("crm.urls"))``:
OAuth callbacks are ``/integrations/<name>/oauth/`` (the architecture's contract).
Only registered CRM keys match (the ``crm`` converter asks the provider registry), so
other apps' ``/integrations/…`` URLs are untouched.

``package_urlpatterns`` are settings pages, mounted by chorus/urls.py at
``/settings/integrations/salesforce/package/`` (Install Salesforce Package)."""

from django.urls import path, register_converter

from crm import views, views_package
from crm.providers import crm_keys


class CrmKeyConverter:
    regex = r"[a-z][a-z0-9_-]*"

    def to_python(self, value: str) -> str:
        if value not in crm_keys():
            raise ValueError(value)  # not a CRM: the resolver tries the next pattern
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(CrmKeyConverter, "crm")

urlpatterns = [
    path("crm/login/", views.LoginChoicesView.as_view(), name="crm-login-choices"),
    path("crm/fields/", views.FieldsView.as_view(), name="crm-fields"),
    path("crm/<int:pk>/disconnect/", views.DisconnectView.as_view(), name="crm-disconnect"),
    path("crm/<int:pk>/sync/", views.SyncNowView.as_view(), name="crm-sync-now"),
    path("crm/<int:pk>/status/", views.StatusView.as_view(), name="crm-status"),
    path("<crm:provider>/enable/", views.EnableView.as_view(), name="crm-enable"),
    path("<crm:provider>/oauth/", views.OAuthCallbackView.as_view(), name="crm-oauth-callback"),
    path("<crm:provider>/login/", views.CrmLoginView.as_view(), name="crm-login"),
]

package_urlpatterns = [
    path("", views_package.SalesforcePackageView.as_view(), name="crm-salesforce-package"),
    path("download/", views_package.SalesforcePackageDownloadView.as_view(), name="crm-salesforce-package-download"),
]
