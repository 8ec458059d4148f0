"""Included by chorus/urls.py as
``path("settings/integrations/crm-objects/", include("crm.push.urls"))``."""

from django.urls import path

from crm.push import views

urlpatterns = [
    path("", views.CrmObjectsSaveView.as_view(), name="crm-objects-save"),
    path("required-fields/", views.RequiredFieldsSaveView.as_view(), name="crm-required-fields-save"),
    path("engagements/<int:pk>/push-again/", views.PushAgainView.as_view(), name="crm-push-again"),
]
