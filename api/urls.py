"""Included by chorus/urls.py under ``api/v1/``."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from api import views
from api.exceptions import not_found_view

urlpatterns: list = [
    path("zapier/", include("api.zapier.urls")),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("engagements/", views.EngagementListView.as_view(), name="api-engagements"),
    path("engagements/<int:pk>/", views.EngagementDetailView.as_view(), name="api-engagement"),
    path("accounts/", views.AccountListView.as_view(), name="api-accounts"),
    path("accounts/<int:pk>/", views.AccountDetailView.as_view(), name="api-account"),
    path("opportunities/", views.OpportunityListView.as_view(), name="api-opportunities"),
    path("opportunities/<int:pk>/", views.OpportunityDetailView.as_view(), name="api-opportunity"),
    # The schema and its docs are public: no token, no rate limit.
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], throttle_classes=[]), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema", authentication_classes=[],
                                                 throttle_classes=[]), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema", authentication_classes=[],
                                                throttle_classes=[]), name="api-redoc"),
    # Last: anything else under /api/v1/ is a 404 in the API's error shape.
    re_path(r"^.*/$", not_found_view),
]
