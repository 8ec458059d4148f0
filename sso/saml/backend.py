"""The SAML authentication backend: djangosaml2 hands it a verified Response's
session info; it finds the existing user by email inside the Response's org, and
gives a user without a name the one the IdP asserts."""

from __future__ import annotations

from djangosaml2.backends import Saml2Backend

from sso.saml.acs import SamlLoginRefused, saml_user_fill_names, saml_user_for_login


class ChorusSaml2Backend(Saml2Backend):
    """Never creates users (SCIM does) and edits only an empty name (never one SCIM
    set: ``saml_user_fill_names``). The org comes from the request:
    ``saml_config_loader`` stored the IdP whose certificate verified the Response.
    A refusal is kept on the request so the ACS can say why, in a sentence."""

    def authenticate(self, request, session_info=None, attribute_mapping=None, create_unknown_user=False,
                     assertion_info=None, **kwargs):
        if session_info is None or request is None:
            return None
        config = getattr(request, "chorus_saml_config", None)
        try:
            if config is None:
                raise SamlLoginRefused("unknown_idp")
            user = saml_user_for_login(config=config, session_info=session_info)
        except SamlLoginRefused as refusal:
            request.chorus_saml_refusal = refusal
            return None
        saml_user_fill_names(user=user, session_info=session_info)
        return user
