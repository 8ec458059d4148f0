"""Dialer URLs, mounted at /settings/integrations/dialers/."""

urlpatterns: list = []
