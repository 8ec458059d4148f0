"""SAML single sign-on: one service provider for every organisation.

How an incoming Response finds its organisation, and why it is safe:

1. ``saml_config_loader`` (djangosaml2's ``SAML_CONFIG_LOADER``) peeks at the
   *unverified* Response for its Issuer and loads the identity provider metadata of
   the one organisation whose ``SamlConfig.idp_entity_id`` is that Issuer, and of no
   other. pysaml2 then checks the signature only against that organisation's
   certificate(s) (``only_use_keys_in_metadata``: never a certificate carried inside
   the message).
2. ``saml_response_verify`` (after pysaml2 verified signature, audience, destination
   and times) checks that the Response and Assertion Issuers are that IdP, that the
   signatures use SHA-256 or stronger, and burns the assertion id (replay protection:
   IdP-initiated logins have no InResponseTo to tie them to a request).
3. ``saml_user_for_login`` finds the person by email, case-insensitively, inside that
   organisation only. IdP A can therefore never sign in a user of organisation B.

The settings page, the ``configure_saml`` command and the views call these
functions; the SCIM switch of the SSO page lives here too (``scim_provisioning_*``).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import quote, unquote

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from defusedxml import ElementTree as SafeET
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import SPConfig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED
from saml2.time_util import str_to_time
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from chorus.models import Organization, User
from chorus.services import audit_record
from integrations.http import DEFAULT_TIMEOUT, UnsafeUrl, ca_bundle, public_url_check
from sso.models import SamlConfig, ScimSettings, UsedAssertion

logger = logging.getLogger(__name__)

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"

# Signature and digest algorithms we accept: SHA-256 or stronger, never SHA-1.
ALLOWED_SIGNATURE_ALGORITHMS = frozenset({
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
})
ALLOWED_DIGEST_ALGORITHMS = frozenset({
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
})

# Attribute names that carry the user's email, compared on their last path segment,
# lower-cased: Okta/JumpCloud "Email", Azure's "Email" claim (seed) or its default
# ".../identity/claims/emailaddress", and "mail" from LDAP-style IdPs.
EMAIL_ATTRIBUTE_NAMES = ("email", "emailaddress", "mail", "e-mail")

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
MAX_XML_CHARS = 1_000_000

# What the person sees when a sign-in is refused (never a stack trace, never a session).
REFUSALS = {
    "unknown_idp": (
        "Single sign-on is not set up for this identity provider",
        "Chorus does not recognise the identity provider that sent you here, or SAML sign-in is turned off "
        "for your organization. Ask your Chorus admin to check Settings > SSO.",
    ),
    "invalid": (
        "We could not verify your sign-in",
        "The response from your identity provider could not be verified. Start again from your identity "
        "provider; if it keeps happening, ask your Chorus admin to check the SAML certificate in Settings > SSO.",
    ),
    "expired": (
        "Your sign-in has expired",
        "The response from your identity provider is too old or not valid yet. Check your computer's clock "
        "and sign in again from your identity provider.",
    ),
    "replayed": (
        "This sign-in link was already used",
        "Each sign-in response can be used once. Start the sign-in again from your identity provider.",
    ),
    "weak_signature": (
        "We could not verify your sign-in",
        "Your identity provider signed the response with an outdated algorithm. Ask your admin to use SHA-256.",
    ),
    "foreign_redirect": (
        "This sign-in link leads outside Chorus",
        "The link you followed asked Chorus to send you to another website after signing in, so we did not "
        "sign you in. Start again from your identity provider's Chorus tile or from the Chorus login page.",
    ),
    "no_email": (
        "Your identity provider did not send an email address",
        "Chorus finds your account by email. Ask your admin to send the Email claim (or an email NameID) "
        "from the Chorus app in your identity provider.",
    ),
    "unprovisioned": (
        "You don't have a Chorus account yet",
        "There is no Chorus user {email} in {org}. Ask your Chorus admin to give you access "
        "(for example by assigning the Chorus app to you in your identity provider).",
    ),
    "deactivated": (
        "Your Chorus account is deactivated",
        "The Chorus user {email} in {org} is deactivated. Ask your Chorus admin to reactivate it.",
    ),
}


class SamlLoginRefused(Exception):
    """A sign-in that must not create a session. ``reason`` is a key of REFUSALS."""

    def __init__(self, reason: str, **context: Any):
        super().__init__(reason)
        self.reason = reason
        self.context = context

    @property
    def title(self) -> str:
        return REFUSALS.get(self.reason, REFUSALS["invalid"])[0]

    @property
    def message(self) -> str:
        return REFUSALS.get(self.reason, REFUSALS["invalid"])[1].format(
            email=self.context.get("email", ""), org=self.context.get("org", "your organization")
        )


# --- Service provider values ----------------------------------------------------------------


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


# --- RelayState: base64 of "redirect=<url-encoded local path>" ---------------------------------


def relay_state_encode(path: str) -> str:
    return base64.b64encode(f"redirect={quote(path, safe='')}".encode()).decode()


def safe_local_path(path: str | None) -> str | None:
    """``path`` if it is a path on this site (no scheme, no host, no ``//`` or
    ``/\\`` that browsers read as another host, no control characters), else None."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 0x20 or c.isspace() for c in path):
        return None
    if not url_has_allowed_host_and_scheme(url=path, allowed_hosts=set(), require_https=False):
        return None
    return path


def _local_target(target: str) -> str | None:
    """A local path for ``target``: a path on this site, or an absolute URL on
    CHORUS_BASE_URL's origin reduced to its path. None for anything elsewhere."""
    if target.startswith(("http://", "https://")):
        base = settings.CHORUS_BASE_URL
        if target == base or target.startswith(base + "/"):
            target = target[len(base):] or "/"
        else:
            return None
    return safe_local_path(target)


def relay_state_target(value: str | None) -> str | None:
    """Where a RelayState asks to go after sign-in.

    * the seed's format, base64 of ``redirect=<url-encoded local path>``: that path;
    * a bare local path (or a URL on Chorus's own origin): that path;
    * empty, or anything that does not parse (the seed's JumpCloud example
      ``cmVkaXJIY3Q9Lw==`` decodes to ``redirHct=/``): "/";
    * a parsable target on another host (``https://evil.example``, ``//evil``,
      ``/\\evil``): None, and the sign-in is refused: it is a phishing link.
    """
    value = (value or "").strip()
    if not value:
        return "/"
    if len(value) > 4096:
        return None
    if value.startswith(("/", "http://", "https://")):
        return _local_target(value)
    try:
        padded = value + "=" * (-len(value) % 4)
        decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return "/"
    if not decoded.startswith("redirect="):
        return "/"
    target = unquote(decoded[len("redirect="):]).strip()
    return _local_target(target) if target else "/"


def relay_state_decode(value: str | None) -> str:
    """The local path a RelayState asks for, "/" for anything else."""
    return relay_state_target(value) or "/"


# --- Certificates and metadata ----------------------------------------------------------------


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


METADATA_MAX_BYTES = 1024 * 1024


class MetadataUrlRefused(ValidationError):
    """A Metadata Url Chorus never fetches (not https, or inside a private network)."""


def idp_metadata_fetch(url: str) -> str:
    """The identity provider's metadata from its Metadata Url (Azure's App
    Federation Metadata Url, Okta's and JumpCloud's Metadata URL): https, a public
    host only (an admin typed it: no SSRF), no redirects, at most 1 MB. Raises
    ValidationError with a sentence for the SSO page."""
    try:
        public_url_check(url, allow_private=getattr(settings, "SAML_METADATA_ALLOW_PRIVATE", False),
                         allow_unresolvable=True)
    except UnsafeUrl as exc:
        raise MetadataUrlRefused(str(exc)) from exc
    try:
        with requests.get(url, timeout=DEFAULT_TIMEOUT, stream=True, allow_redirects=False, verify=ca_bundle(),
                          headers={"Accept": "application/samlmetadata+xml, application/xml, text/xml"}) as resp:
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


# --- Configuration (the SSO page and the configure_saml command) --------------------------------


SAML_FIELDS = ("provider", "customer_url", "app_id", "secondary_id", "certificate", "metadata_url",
               "metadata_xml", "idp_entity_id", "enabled")


def saml_config_get(*, org: Organization) -> SamlConfig:
    """The org's SAML configuration, unsaved (blank) if there is none yet."""
    return SamlConfig.objects.for_org(org).first() or SamlConfig(org=org)


def saml_config_update(*, org: Organization, actor: User | None, data: dict[str, Any]) -> tuple[SamlConfig, list[str]]:
    """Validate and save the org's identity provider. ``data`` holds SAML_FIELDS.

    Metadata XML, when given and new, fills the entity id, sign-on URL and
    certificate. For Azure the tenant id must be a GUID and gives the entity id
    (``https://sts.windows.net/<tenant>/``) and sign-on URL when they are blank;
    for Okta the app id gives the entity id. Returns the config and the names of
    the fields filled from metadata. Raises ValidationError keyed by field; nothing
    is saved then."""
    config = saml_config_get(org=org)
    values = {name: data.get(name, getattr(config, name)) for name in SAML_FIELDS}
    for name in SAML_FIELDS:
        if isinstance(values[name], str):
            values[name] = values[name].strip()
    values["provider"] = values["provider"] or SamlConfig.Provider.GENERIC
    errors: dict[str, list[str]] = {}
    imported: list[str] = []
    warnings: list[str] = []

    if values["provider"] not in SamlConfig.Provider.values:
        errors["provider"] = ["Choose Okta, Azure, JumpCloud or another SAML 2.0 provider."]

    new_xml = values["metadata_xml"] and values["metadata_xml"] != config.metadata_xml
    metadata_field = "metadata_xml"
    if values["metadata_url"] and values["metadata_url"] != config.metadata_url and not new_xml:
        # A new Metadata Url is read at once (pasted XML, when given too, wins).
        metadata_field = "metadata_url"
        try:
            values["metadata_xml"] = idp_metadata_fetch(values["metadata_url"])
            new_xml = True
        except MetadataUrlRefused as exc:
            errors["metadata_url"] = exc.messages
        except ValidationError as exc:
            if not values["certificate"]:
                errors["metadata_url"] = exc.messages
            else:  # configured by hand as well (the seed's Azure mapping): save, and say so
                warnings.append(f"{' '.join(exc.messages)} Chorus uses the certificate you entered.")
    if new_xml:
        try:
            meta = idp_metadata_parse(values["metadata_xml"])
        except ValidationError as exc:
            errors[metadata_field] = exc.messages
        else:
            values["idp_entity_id"] = meta.entity_id
            values["certificate"] = certificates_pem(meta.certificates)
            imported = ["idp_entity_id", "certificate"]
            if meta.sso_url:
                values["customer_url"] = meta.sso_url
                imported.append("customer_url")

    if values["certificate"] and "certificate" not in errors:
        try:
            values["certificate"] = certificates_pem(certificates_parse(values["certificate"]))
        except ValidationError as exc:
            errors["certificate"] = exc.messages

    provider = values["provider"]
    if provider == SamlConfig.Provider.AZURE and values["app_id"]:
        if not GUID_RE.match(values["app_id"]):
            errors["app_id"] = ["For Azure, enter the Tenant ID: the GUID after “tenantId=” in the User access "
                                "URL (for example 738b610e-619f-4e65-89b0-47b1acf3f9aa), not the full URL."]
        else:
            tenant = values["app_id"].lower()
            values["idp_entity_id"] = values["idp_entity_id"] or f"https://sts.windows.net/{tenant}/"
            values["customer_url"] = values["customer_url"] or f"https://login.microsoftonline.com/{tenant}/saml2"
    if provider == SamlConfig.Provider.OKTA and values["app_id"] and not values["idp_entity_id"]:
        values["idp_entity_id"] = f"http://www.okta.com/{values['app_id']}"

    if values["idp_entity_id"] in sp_entity_ids():
        errors["idp_entity_id"] = ["This is Chorus's entity ID. Enter your identity provider's own entity ID "
                                   "(the Issuer of its responses)."]
    elif values["idp_entity_id"] and SamlConfig.objects.exclude(org=org).filter(
            idp_entity_id=values["idp_entity_id"]).exists():
        errors["idp_entity_id"] = ["This identity provider is already connected to another Chorus organization. "
                                   "Use a unique IdP Entity ID for this organization."]

    if values["enabled"]:
        missing = [label for name, label in (("idp_entity_id", "IdP Entity ID"), ("customer_url", "SAML Customer Url"),
                                             ("certificate", "SAML Certificate")) if not values[name]]
        if missing and not errors:
            errors["enabled"] = [f"Before turning SAML sign-in on, fill in {', '.join(missing)} "
                                 "(or paste your identity provider's Metadata XML)."]
    if errors:
        raise ValidationError(errors)

    changed = [name for name in SAML_FIELDS if getattr(config, name) != values[name]]
    for name in SAML_FIELDS:
        setattr(config, name, values[name])
    config.updated_by = actor
    try:
        with transaction.atomic():
            config.save()
            if changed:
                audit_record(org=org, actor=actor, action="sso.saml_configured", target=config.get_provider_display(),
                             changes={name: ["", "changed"] for name in changed})
    except IntegrityError as exc:  # two orgs racing for one IdP entity id
        raise ValidationError({"idp_entity_id": ["This identity provider is already connected to another "
                                                 "Chorus organization."]}) from exc
    config.warnings = warnings  # for the page, not stored
    return config, imported


def saml_config_from_metadata(*, org: Organization, metadata_xml: str, provider: str | None = None,
                              actor: User | None = None, enable: bool = True) -> SamlConfig:
    """The ``configure_saml`` command: import metadata and turn SAML sign-in on."""
    config = saml_config_get(org=org)
    data = {"metadata_xml": metadata_xml, "enabled": enable}
    if provider:
        data["provider"] = provider
    if config.pk and config.metadata_xml == metadata_xml.strip():
        config.metadata_xml = ""  # re-import the same file: fill the fields again
    config, _ = saml_config_update(org=org, actor=actor, data=data)
    return config


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


def saml_metadata_refresh_all() -> int:
    """The daily task: every enabled SAML configuration with a Metadata Url."""
    configs = SamlConfig.objects.filter(enabled=True).exclude(metadata_url="").select_related("org")
    return sum(saml_metadata_refresh(config=c) for c in configs)


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


# --- The pysaml2 configuration per request ---------------------------------------------------------


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


@dataclass
class ResponsePeek:
    issuer: str
    audiences: list[str]


def saml_response_peek(saml_response: str) -> ResponsePeek | None:
    """Issuer and audiences of an *unverified* base64 Response: only used to choose
    which IdP certificate pysaml2 verifies the Response with. None when the Response
    is unreadable or its Response and Assertion Issuers disagree."""
    try:
        xml = base64.b64decode(saml_response, validate=False)
        if len(xml) > MAX_XML_CHARS:
            return None
        root = SafeET.fromstring(xml)
    except Exception:  # noqa: BLE001 - hostile input: any parse failure means "unknown"
        return None
    if root.tag != f"{{{NS_SAMLP}}}Response":
        return None
    issuers = {(el.text or "").strip() for el in root.findall(f"{{{NS_SAML}}}Issuer")}
    for assertion in root.findall(f"{{{NS_SAML}}}Assertion"):
        issuers |= {(el.text or "").strip() for el in assertion.findall(f"{{{NS_SAML}}}Issuer")}
    issuers.discard("")
    if len(issuers) != 1:
        return None
    audiences = [(el.text or "").strip() for el in root.iter(f"{{{NS_SAML}}}Audience")]
    return ResponsePeek(issuer=issuers.pop(), audiences=audiences)


def saml_config_loader(request=None) -> SPConfig:
    """djangosaml2's SAML_CONFIG_LOADER. On the ACS, load the IdP named by the
    Response's Issuer (its org is remembered on the request as
    ``chorus_saml_config``, trusted only once the signature verifies); elsewhere
    (metadata, logout) the SP alone."""
    entity_id, idp_metadata = sp_entity_id(), None
    posted = getattr(request, "method", "") == "POST" and "SAMLResponse" in request.POST
    if posted:
        peek = saml_response_peek(request.POST["SAMLResponse"])
        if peek is not None:
            # Audience = our entity id, or our ACS URL (the seed's JumpCloud "SP Entity ID").
            if sp_acs_url() in peek.audiences and sp_entity_id() not in peek.audiences:
                entity_id = sp_acs_url()
            config = (SamlConfig.objects.select_related("org")
                      .filter(idp_entity_id=peek.issuer, enabled=True).first())
            if config is not None:
                try:
                    idp_metadata = idp_metadata_xml(config)
                    request.chorus_saml_config = config
                except ValidationError:
                    logger.warning("SAML config of org %s has an unreadable certificate", config.org_id)
    return sp_config(entity_id=entity_id, idp_metadata=idp_metadata)


# --- After pysaml2 has verified the Response ----------------------------------------------------------


def _parse_saml_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime(*str_to_time(value)[:6], tzinfo=UTC)
    except (ValueError, TypeError):
        return None


def _check_algorithms(element) -> None:
    signature = getattr(element, "signature", None)
    if signature is None or signature.signed_info is None:
        return
    if signature.signed_info.signature_method.algorithm not in ALLOWED_SIGNATURE_ALGORITHMS:
        raise SamlLoginRefused("weak_signature")
    for reference in signature.signed_info.reference:
        if reference.digest_method.algorithm not in ALLOWED_DIGEST_ALGORITHMS:
            raise SamlLoginRefused("weak_signature")


def saml_response_verify(*, config: SamlConfig | None, response, relay_state: str | None = None) -> str:
    """Checks on a Response whose signature pysaml2 has verified: the Issuer is the
    IdP whose certificate verified it, SHA-256 or stronger, the RelayState does not
    lead to another site, and the assertion was never used before (kept until it
    expires). Returns the local path to open after sign-in; raises SamlLoginRefused."""
    if config is None:
        raise SamlLoginRefused("unknown_idp")
    next_path = relay_state_target(relay_state)
    if next_path is None:
        raise SamlLoginRefused("foreign_redirect")
    assertion = response.assertion
    response_issuer = response.issuer()
    assertion_issuer = (assertion.issuer.text or "").strip() if assertion.issuer is not None else ""
    if assertion_issuer != config.idp_entity_id or (response_issuer and response_issuer != config.idp_entity_id):
        raise SamlLoginRefused("unknown_idp")
    _check_algorithms(response.response)
    _check_algorithms(assertion)

    now = timezone.now()
    limits = [_parse_saml_time(sc.subject_confirmation_data.not_on_or_after)
              for sc in assertion.subject.subject_confirmation if sc.subject_confirmation_data is not None]
    if assertion.conditions is not None:
        limits.append(_parse_saml_time(assertion.conditions.not_on_or_after))
    limits = [t for t in limits if t is not None]
    expires = (min(limits) if limits else now + timedelta(hours=1)) + timedelta(
        seconds=settings.SAML_CLOCK_SKEW_SECONDS)
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(org=config.org, assertion_id=str(assertion.id)[:255], not_on_or_after=expires)
    except IntegrityError as exc:
        raise SamlLoginRefused("replayed") from exc
    UsedAssertion.objects.filter(not_on_or_after__lt=now).delete()
    return next_path


def _looks_like_email(value: str) -> bool:
    try:
        EmailValidator()(value)
    except ValidationError:
        return False
    return True


def saml_email_from(session_info: dict[str, Any]) -> str | None:
    """The user's email: an Email / emailaddress / mail attribute first, else a
    NameID that is an email (format emailAddress or unspecified). Persistent and
    transient NameIDs (Azure's are opaque) are never used."""
    attributes = session_info.get("ava") or {}
    by_name = {}
    for name, values in attributes.items():
        key = str(name).rstrip("/").rsplit("/", 1)[-1].lower()
        by_name.setdefault(key, values if isinstance(values, list | tuple) else [values])
    for key in EMAIL_ATTRIBUTE_NAMES:
        for value in by_name.get(key, []):
            if isinstance(value, str) and _looks_like_email(value.strip()):
                return value.strip()
    name_id = session_info.get("name_id")
    if name_id is not None and name_id.format in (None, NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED):
        value = (name_id.text or "").strip()
        if _looks_like_email(value):
            return value
    return None


def saml_user_for_login(*, config: SamlConfig, session_info: dict[str, Any]) -> User:
    """The active user of ``config.org`` with the asserted email (case-insensitive).
    Never creates one (SCIM provisions people). Raises SamlLoginRefused."""
    if session_info.get("issuer") != config.idp_entity_id:
        raise SamlLoginRefused("unknown_idp")
    email = saml_email_from(session_info)
    if not email:
        raise SamlLoginRefused("no_email")
    user = User.objects.for_org(config.org).with_email(email).select_related("org").first()
    if user is None:
        raise SamlLoginRefused("unprovisioned", email=email, org=config.org.name)
    if not user.is_active:
        raise SamlLoginRefused("deactivated", email=user.email, org=config.org.name)
    return user


# --- SP-initiated login ------------------------------------------------------------------------------------


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


# --- SCIM provisioning switch ----------------------------------------------------------------------------------


def scim_provisioning_active(*, org: Organization) -> bool:
    """SCIM requests are served only when support activated the feature and the
    org's admin turned it on."""
    if not org.scim_provisioning_allowed:
        return False
    return ScimSettings.objects.for_org(org).filter(enabled=True).exists()


def scim_provisioning_set(*, org: Organization, actor: User | None, enabled: bool) -> ScimSettings:
    if enabled and not org.scim_provisioning_allowed:
        raise ValidationError("SCIM provisioning is not activated for your organization yet: contact Chorus support.")
    row, _ = ScimSettings.objects.get_or_create(org=org)
    if row.enabled != enabled:
        row.enabled, row.updated_by = enabled, actor
        with transaction.atomic():
            row.save()
            audit_record(org=org, actor=actor, action="sso.scim_enabled" if enabled else "sso.scim_disabled")
    return row
