"""SAML (djangosaml2) settings, imported by chorus.settings. Owned by the SAML work."""

SAML_AUTHENTICATION_BACKENDS: list[str] = []
