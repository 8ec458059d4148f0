"""SAML URLs: /login/saml (ACS), /login/saml/metadata, /login/sso/ (SP-initiated)."""

from django.urls import path
from djangosaml2.views import MetadataView

from sso.saml.views import SamlAcsView, SsoLoginView

urlpatterns = [
    path("login/saml", SamlAcsView.as_view(), name="saml-acs"),
    path("login/saml/metadata", MetadataView.as_view(), name="saml-metadata"),
    path("login/sso/", SsoLoginView.as_view(), name="sso-login"),
]
