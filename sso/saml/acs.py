"""The assertion consumer service's checks: which organisation an incoming Response
belongs to (its Issuer picks the one IdP whose certificate may verify it), what
pysaml2 leaves to us once the signature holds (issuer binding, SHA-256 or stronger,
replay cache with clock skew), and which user the Response signs in. Every refusal
is a ``SamlLoginRefused`` with a sentence for the person."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from defusedxml import ElementTree as SafeET
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from saml2.config import SPConfig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED
from saml2.time_util import str_to_time

from chorus import services
from chorus.models import User
from sso.models import SamlConfig, UsedAssertion
from sso.saml.idp_metadata import MAX_XML_CHARS, NS_SAMLP, idp_metadata_xml
from sso.saml.sp import sp_acs_url, sp_config, sp_entity_id

logger = logging.getLogger(__name__)

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"

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
# First and last names, compared the same way. The seed's Azure claims "FirstName" /
# "LastName" (its steps remove the namespace) or Azure's defaults
# "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname" / ".../surname";
# the seed's JumpCloud attributes "FirstName" / "LastName"; Okta's attribute statements
# as the SSO page asks for them ("FirstName" / "LastName"); LDAP-style "givenName" /
# "sn" and their OIDs (urn:oid:2.5.4.42 / urn:oid:2.5.4.4).
FIRST_NAME_ATTRIBUTE_NAMES = ("firstname", "givenname", "given_name", "urn:oid:2.5.4.42")
LAST_NAME_ATTRIBUTE_NAMES = ("lastname", "surname", "familyname", "family_name", "sn", "urn:oid:2.5.4.4")
NAME_MAX_LENGTH = 150  # User.first_name / last_name

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



# --- Which organisation: the Issuer, before the signature is checked ------------------------------


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


def saml_response_verify(*, config: SamlConfig | None, response) -> None:
    """Checks on a Response whose signature pysaml2 has verified: the Issuer is the
    IdP whose certificate verified it, SHA-256 or stronger, and the assertion was
    never used before (kept until it expires). Raises SamlLoginRefused. (The
    RelayState is not part of the signed Response: ``relay_state`` decides where
    the browser goes, never whether the person signs in.)"""
    if config is None:
        raise SamlLoginRefused("unknown_idp")
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


def _looks_like_email(value: str) -> bool:
    try:
        EmailValidator()(value)
    except ValidationError:
        return False
    return True


def _attributes_by_name(session_info: dict[str, Any]) -> dict[str, list]:
    """The Response's attributes by the last segment of their name, lower-cased
    (``http://…/claims/givenname`` → ``givenname``); the first of a name wins."""
    by_name: dict[str, list] = {}
    for name, values in (session_info.get("ava") or {}).items():
        key = str(name).rstrip("/").rsplit("/", 1)[-1].lower()
        by_name.setdefault(key, list(values) if isinstance(values, list | tuple) else [values])
    return by_name


def _first_text(by_name: dict[str, list], keys: tuple[str, ...]) -> str:
    for key in keys:
        for value in by_name.get(key, []):
            if isinstance(value, str) and value.strip():
                return value.strip()
    return ""


def saml_names_from(session_info: dict[str, Any]) -> tuple[str, str]:
    """First and last name from the Response's attributes ("" when absent)."""
    by_name = _attributes_by_name(session_info)
    return (_first_text(by_name, FIRST_NAME_ATTRIBUTE_NAMES)[:NAME_MAX_LENGTH],
            _first_text(by_name, LAST_NAME_ATTRIBUTE_NAMES)[:NAME_MAX_LENGTH])


def saml_user_fill_names(*, user: User, session_info: dict[str, Any]) -> None:
    """Give a user who has no name yet the one their IdP asserts. SCIM owns people's
    profiles: a user whose first or last name is set (by SCIM, or in Chorus) keeps
    it, so in practice this fills the name on the first sign-in of someone SCIM
    provisioned without one (or who was never provisioned by SCIM)."""
    if user.first_name or user.last_name:
        return
    first, last = saml_names_from(session_info)
    if first or last:
        services.user_update_profile(user=user, first_name=first, last_name=last)


def saml_email_from(session_info: dict[str, Any]) -> str | None:
    """The user's email: an Email / emailaddress / mail attribute first, else a
    NameID that is an email (format emailAddress or unspecified). Persistent and
    transient NameIDs (Azure's are opaque) are never used."""
    by_name = _attributes_by_name(session_info)
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

