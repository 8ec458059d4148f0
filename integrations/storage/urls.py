"""Custom Media Bucket URLs, mounted at /settings/integrations/bucket/."""

urlpatterns: list = []
