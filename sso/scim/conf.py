"""SCIM (django-scim2) settings, imported by chorus.settings. Owned by the SCIM work.

django-scim2 is kept for its adapters and view plumbing; the pieces it gets wrong
(authentication, filtering, discovery documents, errors) are replaced in
``sso.scim`` and wired here."""

SCIM_SERVICE_PROVIDER = {
    "NETLOC": "chorus.ai",  # unused: BASE_LOCATION_GETTER reads CHORUS_BASE_URL
    "BASE_LOCATION_GETTER": "sso.scim.adapters.base_location",
    "USER_ADAPTER": "sso.scim.adapters.ScimUser",
    "GROUP_ADAPTER": "sso.scim.adapters.ScimGroup",
    "GROUP_MODEL": "chorus.models.Team",
    "USER_FILTER_PARSER": "sso.scim.filters.UserFilterQuery",
    "GROUP_FILTER_PARSER": "sso.scim.filters.GroupFilterQuery",
    "AUTH_CHECK_MIDDLEWARE": "sso.scim.auth.ScimBearerAuth",
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The organisation's SCIM token as 'Authorization: Bearer <token>'.",
            "primary": True,
        }
    ],
    "EXPOSE_SCIM_EXCEPTIONS": False,
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="Chorus SCIM"',
}
