"""Zapier: REST-hook triggers (New Post-Meeting Brief, New Action Items), their polling
fallbacks and the auth test, on top of the public API's authentication."""
from django.urls import path

from api.zapier import views

urlpatterns: list = [
    path("me/", views.MeView.as_view(), name="zapier-me"),
    path("hooks/", views.HookListView.as_view(), name="zapier-hooks"),
    path("hooks/<int:pk>/", views.HookDetailView.as_view(), name="zapier-hook"),
    path("briefs/", views.BriefsPollView.as_view(), name="zapier-briefs"),
    path("action-items/", views.ActionItemsPollView.as_view(), name="zapier-action-items"),
]
