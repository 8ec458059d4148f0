"""SAML (djangosaml2) settings, imported by chorus.settings. Owned by the SAML work.

There is one service provider for every organisation: the pysaml2 configuration is
built per request by ``sso.saml.acs.saml_config_loader`` (the identity provider of the
organisation named by the Response's Issuer), so there is no static SAML_CONFIG.
"""

SAML_AUTHENTICATION_BACKENDS: list[str] = ["sso.saml.backend.ChorusSaml2Backend"]

SAML_CONFIG_LOADER = "sso.saml.acs.saml_config_loader"

# SCIM is the source of truth for people: SAML signs existing, active users in and
# never creates or edits one.
SAML_CREATE_UNKNOWN_USER = False
SAML_ATTRIBUTE_MAPPING: dict = {}

# The IdP's POST to /login/saml is cross-site: the SAML session cookie (outstanding
# requests of SP-initiated logins) must be SameSite=None to come along.
SAML_SESSION_COOKIE_NAME = "saml_session"
SAML_SESSION_COOKIE_SAMESITE = "None"

SAML_DEFAULT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SAML_IGNORE_LOGOUT_ERRORS = True
ACS_DEFAULT_REDIRECT_URL = "/"

# Identity providers' clocks drift: accept assertions up to this far outside their
# NotBefore / NotOnOrAfter window.
SAML_CLOCK_SKEW_SECONDS = 180

# No django-csp here: the console sets no CSP for djangosaml2 to extend.
SAML_CSP_HANDLER = ""
