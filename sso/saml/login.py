"""SP-initiated sign-in (/login/sso/): the person's email domain picks the
organisation, and an AuthnRequest sends the browser to that organisation's IdP."""

from __future__ import annotations

from saml2 import BINDING_HTTP_REDIRECT

from sso.models import SamlConfig
from sso.saml.idp_metadata import idp_metadata_xml
from sso.saml.relay_state import relay_state_encode
from sso.saml.sp import sp_acs_url, sp_config, sp_entity_id


def saml_config_for_email(*, email: str) -> SamlConfig | None:
    """SP-initiated login: the enabled SAML config of the organisation whose email
    domains include the address's domain (subdomains too). SSO-enabled orgs are
    few; the domain match is the one in ``Organization.is_internal_email``."""
    if "@" not in (email or ""):
        return None
    for config in SamlConfig.objects.filter(enabled=True).exclude(idp_entity_id="").select_related("org"):
        if config.org.is_internal_email(email):
            return config
    return None


def saml_authn_request(*, config: SamlConfig, next_path: str) -> tuple[str, str]:
    """An AuthnRequest to the org's IdP (HTTP-Redirect binding): returns the
    request id (kept as an outstanding query) and the URL to send the browser to."""
    from djangosaml2.overrides import Saml2Client

    # JumpCloud is configured with the ACS URL as "SP Entity ID" (seed).
    entity_id = sp_acs_url() if config.provider == SamlConfig.Provider.JUMPCLOUD else sp_entity_id()
    client = Saml2Client(sp_config(entity_id=entity_id, idp_metadata=idp_metadata_xml(config)))
    request_id, info = client.prepare_for_authenticate(
        entityid=config.idp_entity_id, relay_state=relay_state_encode(next_path), binding=BINDING_HTTP_REDIRECT,
    )
    location = dict(info["headers"])["Location"]
    return request_id, location
