"""Dialer URLs, mounted at /settings/integrations/dialers/."""

from django.urls import path

from dialers import views

urlpatterns = [
    path("add/", views.DialerAddView.as_view(), name="dialer-add"),
    path("add/<slug:key>/", views.DialerFormView.as_view(), name="dialer-connect"),
    path("<int:pk>/edit/", views.DialerFormView.as_view(), name="dialer-edit"),
    path("<int:pk>/status/", views.DialerStatusView.as_view(), name="dialer-status"),
    path("<int:pk>/recordings/", views.DialerRecordingsView.as_view(), name="dialer-recordings"),
    path("<int:pk>/import/", views.DialerImportNowView.as_view(), name="dialer-import-now"),
    path("<int:pk>/disconnect/", views.DialerDisconnectView.as_view(), name="dialer-disconnect"),
    path("<int:pk>/activate/", views.ZoomPhoneActivateView.as_view(), name="dialer-zoom-activate"),
    path("compliance/", views.NotificationDetectionView.as_view(), name="dialer-compliance-settings"),
]
