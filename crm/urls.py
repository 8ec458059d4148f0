"""Included by chorus/urls.py as ``path("integrations/", include("crm.urls"))``:
OAuth callbacks are ``/integrations/<name>/oauth/`` (the architecture's contract).
Only the three CRM names match, so other apps' ``/integrations/…`` URLs are untouched."""

from django.urls import path, re_path

from crm import views

CRM = r"(?P<provider>salesforce|hubspot|dynamics)"

urlpatterns = [
    path("crm/login/", views.LoginChoicesView.as_view(), name="crm-login-choices"),
    path("crm/fields/", views.FieldsView.as_view(), name="crm-fields"),
    path("crm/<int:pk>/disconnect/", views.DisconnectView.as_view(), name="crm-disconnect"),
    path("crm/<int:pk>/sync/", views.SyncNowView.as_view(), name="crm-sync-now"),
    path("crm/<int:pk>/status/", views.StatusView.as_view(), name="crm-status"),
    re_path(rf"^{CRM}/enable/$", views.EnableView.as_view(), name="crm-enable"),
    re_path(rf"^{CRM}/oauth/$", views.OAuthCallbackView.as_view(), name="crm-oauth-callback"),
    re_path(rf"^{CRM}/login/$", views.CrmLoginView.as_view(), name="crm-login"),
]
