"""The one Chorus service provider: its entity id, ACS URL and accepted audiences,
the values an admin copies into the identity provider, and the pysaml2 ``SPConfig``
that verifies Responses and is served as SP metadata at /login/saml/metadata."""

from __future__ import annotations

import shutil
from typing import Any

from django.conf import settings
from saml2 import BINDING_HTTP_POST
from saml2.config import SPConfig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from sso.saml.relay_state import relay_state_encode


def sp_entity_id() -> str:
    return settings.CHORUS_BASE_URL


def sp_acs_url() -> str:
    return f"{settings.CHORUS_BASE_URL}/login/saml"


def sp_entity_ids() -> tuple[str, str]:
    """Audiences we accept: the SP entity id, and the ACS URL, which the seed's
    JumpCloud steps use as "SP Entity ID"."""
    return sp_entity_id(), sp_acs_url()


def sp_values() -> dict[str, Any]:
    """What an admin copies into the identity provider (the SSO page shows these)."""
    base = settings.CHORUS_BASE_URL
    return {
        "entity_id": base,
        "jumpcloud_entity_id": sp_acs_url(),
        "acs_url": sp_acs_url(),
        "metadata_url": f"{base}/login/saml/metadata",
        "sso_login_url": f"{base}/login/sso/",
        "scim_base_url": f"{base}/api/scim/v2",
        "relay_states": [
            ("Home page", relay_state_encode("/")),
            ("Recordings", relay_state_encode("/recordings/")),
            ("Deals", relay_state_encode("/deals/")),
        ],
    }


def _xmlsec_binary() -> str:
    return shutil.which("xmlsec1") or "/usr/bin/xmlsec1"


def sp_config(*, entity_id: str | None = None, idp_metadata: str | None = None) -> SPConfig:
    """The one Chorus service provider, trusting at most one identity provider."""
    conf: dict[str, Any] = {
        "entityid": entity_id or sp_entity_id(),
        "xmlsec_binary": _xmlsec_binary(),
        "allow_unknown_attributes": True,
        "accepted_time_diff": settings.SAML_CLOCK_SKEW_SECONDS,
        "delete_tmpfiles": True,
        "service": {
            "sp": {
                "name": "Chorus",
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED],
                "endpoints": {"assertion_consumer_service": [(sp_acs_url(), BINDING_HTTP_POST)]},
                # Okta tiles and Azure My Apps start at the IdP: no InResponseTo.
                # Replays are stopped by UsedAssertion instead.
                "allow_unsolicited": True,
                "authn_requests_signed": False,
                "logout_requests_signed": False,
                # Azure signs only the assertion by default, others only the
                # response: one of the two must be signed, and verify.
                "want_assertions_signed": False,
                "want_response_signed": False,
                "want_assertions_or_response_signed": True,
                "only_use_keys_in_metadata": True,
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
            },
        },
    }
    if idp_metadata:
        conf["metadata"] = {"inline": [idp_metadata]}
    config = SPConfig()
    config.load(conf)
    return config
