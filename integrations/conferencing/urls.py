"""Conferencing URLs, mounted at /integrations/ (Zoom webhook, OAuth callbacks)."""

urlpatterns: list = []
