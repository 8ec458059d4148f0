"""Included by chorus/urls.py as ``path("crm-fields/", include("crm.push.console_urls"))``:
a rep's pending required CRM fields after meetings and calls."""

from django.urls import path

from crm.push import views

urlpatterns = [
    path("", views.CrmFieldRequestsView.as_view(), name="crm-field-requests"),
]
