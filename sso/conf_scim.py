"""SCIM (django-scim2) settings, imported by chorus.settings. Owned by the SCIM work."""
