"""The identity provider's side of the trust: its signing certificates, its metadata
(as Okta, Azure and JumpCloud export it, pasted or read from its Metadata Url), the
metadata pysaml2 is given, and the daily refresh that takes the certificates an IdP
rolls over. Kept together because all of it decides which keys Chorus trusts."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from defusedxml import ElementTree as SafeET
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS

from chorus.services import audit_record
from integrations.http import UnsafeUrl, http_session, public_url_check
from sso.models import SamlConfig
from sso.saml.sp import sp_acs_url

logger = logging.getLogger(__name__)

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"

PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
MAX_XML_CHARS = 1_000_000  # metadata or a Response longer than this is not one
METADATA_MAX_BYTES = 1024 * 1024
METADATA_ACCEPT = "application/samlmetadata+xml, application/xml, text/xml"


# --- Certificates ---------------------------------------------------------------------------------


def certificates_parse(text: str) -> list[x509.Certificate]:
    """X.509 certificates from PEM (one or more blocks, for rotation) or from the
    bare Base64 body that Azure and Okta show. Raises ValidationError."""
    text = (text or "").strip()
    if not text:
        return []
    bodies = PEM_RE.findall(text) if "-----BEGIN" in text else [text]
    if not bodies:
        raise ValidationError("This is not a certificate: paste the PEM text, from -----BEGIN CERTIFICATE----- "
                              "to -----END CERTIFICATE-----.")
    certs = []
    for body in bodies:
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
            certs.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(
                "This certificate could not be read. Paste the identity provider's signing certificate "
                "(Base64 / PEM), e.g. Azure's “Certificate (Base64)”."
            ) from exc
    return certs


def certificates_pem(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _cert_body(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def certificates_describe(text: str) -> list[dict[str, Any]]:
    """Subject and expiry of each stored certificate, for the SSO page."""
    try:
        certs = certificates_parse(text)
    except ValidationError:
        return []
    now = datetime.now(UTC)
    return [
        {"subject": c.subject.rfc4514_string() or "(no subject)", "not_after": c.not_valid_after_utc,
         "expired": c.not_valid_after_utc < now}
        for c in certs
    ]


@dataclass
class IdpMetadata:
    entity_id: str
    sso_url: str = ""
    certificates: list[x509.Certificate] = field(default_factory=list)


class MetadataUrlRefused(ValidationError):
    """A Metadata Url Chorus never fetches (not https, or inside a private network)."""


# --- Metadata ---------------------------------------------------------------------------------------


def idp_metadata_fetch(url: str) -> str:
    """The identity provider's metadata from its Metadata Url (Azure's App
    Federation Metadata Url, Okta's and JumpCloud's Metadata URL): https, a public
    host only (an admin typed it: no SSRF), no redirects, at most 1 MB. Raises
    ValidationError with a sentence for the SSO page."""
    try:
        public_url_check(url, allow_private=settings.SAML_METADATA_ALLOW_PRIVATE, allow_unresolvable=True)
    except UnsafeUrl as exc:
        raise MetadataUrlRefused(str(exc)) from exc
    try:
        # verify= again on the call: requests lets a REQUESTS_CA_BUNDLE environment
        # variable win over a session's own verify, but not over the call's.
        with http_session() as session, session.get(url, stream=True, allow_redirects=False, verify=session.verify,
                                                    headers={"Accept": METADATA_ACCEPT}) as resp:
            if resp.status_code != 200:
                raise ValidationError(f"The Metadata Url answered HTTP {resp.status_code}. Copy it again from your "
                                      "identity provider (or paste the Metadata XML instead).")
            body = resp.raw.read(METADATA_MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ValidationError(f"Chorus could not reach the Metadata Url ({exc.__class__.__name__}).") from exc
    if len(body) > METADATA_MAX_BYTES:
        raise ValidationError("The metadata at this address is larger than 1 MB; it is not SAML metadata.")
    return body.decode("utf-8", errors="replace")


def idp_metadata_parse(xml: str) -> IdpMetadata:
    """The entity id, sign-on URL and signing certificates of the identity provider
    described by ``xml`` (Okta, Azure federation metadata, JumpCloud export…).
    Raises ValidationError when it is not SAML IdP metadata."""
    xml = (xml or "").strip()
    not_metadata = ValidationError(
        "This is not SAML identity provider metadata: paste the XML your identity provider exports "
        "(it starts with <EntityDescriptor> and contains an IDPSSODescriptor)."
    )
    if not xml or len(xml) > MAX_XML_CHARS:
        raise not_metadata
    try:
        root = SafeET.fromstring(xml.encode())
    except Exception as exc:  # defusedxml raises several types for hostile or broken XML
        raise not_metadata from exc
    if root.tag == f"{{{NS_MD}}}EntityDescriptor":
        entities = [root]
    elif root.tag == f"{{{NS_MD}}}EntitiesDescriptor":
        entities = root.findall(f".//{{{NS_MD}}}EntityDescriptor")
    else:
        raise not_metadata
    for entity in entities:
        idp = entity.find(f"{{{NS_MD}}}IDPSSODescriptor")
        if idp is None:
            continue
        entity_id = (entity.get("entityID") or "").strip()
        if not entity_id:
            raise not_metadata
        sso_urls = {s.get("Binding"): (s.get("Location") or "").strip()
                    for s in idp.findall(f"{{{NS_MD}}}SingleSignOnService")}
        sso_url = sso_urls.get(BINDING_HTTP_REDIRECT) or sso_urls.get(BINDING_HTTP_POST) or ""
        bodies = []
        for kd in idp.findall(f"{{{NS_MD}}}KeyDescriptor"):
            if kd.get("use") not in (None, "", "signing"):
                continue
            bodies += [c.text or "" for c in kd.findall(f".//{{{NS_DS}}}X509Certificate")]
        certs: list[x509.Certificate] = []
        for body in bodies:
            try:
                for cert in certificates_parse(body):
                    if all(_cert_body(cert) != _cert_body(c) for c in certs):
                        certs.append(cert)
            except ValidationError as exc:
                raise ValidationError("The metadata's signing certificate could not be read.") from exc
        if not certs:
            raise ValidationError("This metadata has no signing certificate for the identity provider.")
        return IdpMetadata(entity_id=entity_id, sso_url=sso_url, certificates=certs)
    raise not_metadata


def idp_metadata_xml(config: SamlConfig) -> str:
    """IdP metadata for pysaml2, built from the stored fields (the single source of
    truth, whether they were typed or imported): entity id, sign-on URL, certs."""
    keys = "".join(
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{_cert_body(c)}'
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for c in certificates_parse(config.certificate)
    )
    sso = escape(config.customer_url or sp_acs_url(), quote=True)
    entity_id = escape(config.idp_entity_id, quote=True)
    return (
        f'<md:EntityDescriptor xmlns:md="{NS_MD}" xmlns:ds="{NS_DS}" entityID="{entity_id}">'
        f'<md:IDPSSODescriptor protocolSupportEnumeration="{NS_SAMLP}">{keys}'
        f"<md:NameIDFormat>{NAMEID_FORMAT_EMAILADDRESS}</md:NameIDFormat>"
        f'<md:SingleSignOnService Binding="{BINDING_HTTP_REDIRECT}" Location="{sso}"/>'
        f'<md:SingleSignOnService Binding="{BINDING_HTTP_POST}" Location="{sso}"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )



# --- Certificate roll-over (the daily task) ----------------------------------------------------------


def saml_metadata_refresh(*, config: SamlConfig) -> bool:
    """Read a configured Metadata Url again and take the identity provider's
    current signing certificates (Azure and Okta roll theirs over; sign-in would
    fail on the day the old one expires). Only the certificates change: the
    entity id that names the org stays. A failure keeps what works and is logged.
    Returns whether the certificates changed."""
    try:
        xml = idp_metadata_fetch(config.metadata_url)
        meta = idp_metadata_parse(xml)
    except ValidationError as exc:
        logger.warning("SAML metadata of org %s not refreshed: %s", config.org_id, " ".join(exc.messages))
        return False
    if meta.entity_id != config.idp_entity_id or not meta.certificates:
        logger.warning("SAML metadata of org %s now names another identity provider; not taken", config.org_id)
        return False
    pem = certificates_pem(meta.certificates)
    if pem == config.certificate:
        return False
    with transaction.atomic():
        SamlConfig.objects.filter(pk=config.pk).update(certificate=pem, metadata_xml=xml.strip(),
                                                       updated_at=timezone.now())
        audit_record(org=config.org, actor=None, action="sso.saml_certificate_rolled_over",
                     target=config.get_provider_display(), changes={"certificate": ["", "changed"]})
    config.certificate, config.metadata_xml = pem, xml.strip()
    return True


SAML_METADATA_JOB = "saml_metadata"


def saml_metadata_due_units(now):
    """Every enabled SAML configuration with a Metadata Url (read daily, each on its
    own worker: one slow identity provider holds up no other)."""
    from integrations.scheduler import Unit

    configs = SamlConfig.objects.filter(enabled=True).exclude(metadata_url="").values_list("pk", "org_id")
    return [Unit.of_row("saml", pk, org_id, "saml") for pk, org_id in configs]


def saml_metadata_unit_run(unit) -> dict:
    config = (SamlConfig.objects.filter(pk=unit.pk, enabled=True).exclude(metadata_url="")
              .select_related("org").first())
    return {"changed": saml_metadata_refresh(config=config)} if config else {"skipped": "not configured"}

