"""SCIM 2.0 URLs, mounted at /api/scim/v2/."""

urlpatterns: list = []
