"""Gainsight Integration URLs, mounted at /settings/integrations/gainsight/."""

from django.urls import path

from gainsight import views

urlpatterns = [
    path("", views.GainsightConnectView.as_view(), name="gainsight-connect"),
    path("remove/", views.GainsightRemoveView.as_view(), name="gainsight-remove"),
]
