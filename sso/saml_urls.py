"""SAML URLs: /login/saml (ACS), /login/saml/metadata, /login/sso/ (SP-initiated)."""

urlpatterns: list = []
