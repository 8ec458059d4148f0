"""Test support, not used at run time: a real SAML identity provider (pysaml2's
``Server`` with keys and certificates made with ``cryptography``) issuing Responses
signed by xmlsec1 and shaped like Okta's, Azure's or JumpCloud's, plus pytest
fixtures. Test modules load it with ``pytest_plugins = ["testutils.saml_idp"]``."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, class_name, samlp
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.sigver import pre_signature_part, signed_instance_factory
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

from sso.saml import sp as saml
from sso.saml.configure import saml_config_from_metadata

XMLSEC = "/usr/bin/xmlsec1"
AUTHN = {"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}
SAML_TIME = "%Y-%m-%dT%H:%M:%SZ"

_KEYS: dict[str, tuple[bytes, bytes]] = {}


def key_pair(name: str) -> tuple[bytes, bytes]:
    """A 2048-bit RSA key and its self-signed SHA-256 certificate (PEM), made once per run."""
    if name not in _KEYS:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Test IdP {name}")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        _KEYS[name] = (
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM),
        )
    return _KEYS[name]


def sp_metadata_xml(entity_id: str | None = None) -> str:
    return str(entity_descriptor(saml.sp_config(entity_id=entity_id)))


class TestIdP:
    """One identity provider. ``response()`` returns the base64 SAMLResponse an IdP
    would POST to /login/saml."""

    __test__ = False

    def __init__(self, *, entity_id: str, key: str, workdir: Path, sso_url: str | None = None):
        self.entity_id = entity_id
        self.sso_url = sso_url or f"https://idp.example/{key}/sso/saml"
        key_pem, cert_pem = key_pair(key)
        workdir.mkdir(parents=True, exist_ok=True)
        self.key_file, self.cert_file = workdir / f"{key}.key", workdir / f"{key}.crt"
        self.key_file.write_bytes(key_pem)
        self.cert_file.write_bytes(cert_pem)
        self.cert_pem = cert_pem.decode()
        conf = IdPConfig()
        conf.load({
            "entityid": entity_id,
            "xmlsec_binary": XMLSEC,
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "metadata": {"inline": [sp_metadata_xml()]},
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT),
                                                         (self.sso_url, BINDING_HTTP_POST)]},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                       "name_form": NAME_FORMAT_BASIC}},
            }},
        })
        self.server = Server(config=conf)
        self.known_sps = {saml.sp_entity_id()}

    def metadata_xml(self) -> str:
        return str(entity_descriptor(self.server.config))

    def response(self, *, email: str | None = None, attributes: dict | None = None, name_id: str | None = None,
                 name_id_format: str = NAMEID_FORMAT_EMAILADDRESS, audience: str | None = None,
                 destination: str | None = None, in_response_to: str | None = None,
                 sign_assertion: bool = True, sign_response: bool = False, sha1: bool = False,
                 shift: dt.timedelta | None = None, lifetime: dt.timedelta | None = None,
                 issuer: str | None = None, mutate=None, raw: bool = False) -> str:
        """A signed Response. ``shift`` moves every timestamp (issue instants,
        NotBefore, NotOnOrAfter) by that much; ``issuer`` replaces the Issuers
        before signing; ``mutate(xml) -> xml`` edits the XML after signing."""
        attributes = dict(attributes if attributes is not None else ({"Email": [email]} if email else {}))
        identity = {k: v if isinstance(v, list) else [v] for k, v in attributes.items()}
        sp_entity = audience or saml.sp_entity_id()
        if sp_entity not in self.known_sps:  # the IdP must know an SP to answer it
            self.server.metadata.load("inline", sp_metadata_xml(sp_entity))
            self.known_sps.add(sp_entity)
        nid = NameID(format=name_id_format, text=name_id if name_id is not None else (email or "someone"))
        unsigned = self.server.create_authn_response(
            identity, in_response_to=in_response_to, destination=destination or saml.sp_acs_url(),
            sp_entity_id=sp_entity, name_id=nid, authn=AUTHN,
            sign_assertion=False, sign_response=False,
        )
        resp = samlp.response_from_string(str(unsigned))
        assertion = resp.assertion[0]
        if shift is not None or lifetime is not None:
            _shift_times(resp, shift or dt.timedelta(0), lifetime)
        if issuer is not None:
            resp.issuer.text = issuer
            assertion.issuer.text = issuer
        sign_alg, digest_alg = (SIG_RSA_SHA1, DIGEST_SHA1) if sha1 else (SIG_RSA_SHA256, DIGEST_SHA256)
        to_sign = []
        if sign_assertion:
            assertion.signature = pre_signature_part(assertion.id, self.server.sec.my_cert, 1,
                                                     sign_alg=sign_alg, digest_alg=digest_alg)
            to_sign.append((class_name(assertion), assertion.id))
        if sign_response:
            resp.signature = pre_signature_part(resp.id, self.server.sec.my_cert, 2,
                                                sign_alg=sign_alg, digest_alg=digest_alg)
            to_sign.append((class_name(resp), resp.id))
        xml = signed_instance_factory(resp, self.server.sec, to_sign) if to_sign else str(resp)
        if mutate is not None:
            xml = mutate(xml)
        return xml if raw else base64.b64encode(xml.encode()).decode()


def _fmt(value: dt.datetime) -> str:
    return value.strftime(SAML_TIME)


def _shift_times(resp, shift: dt.timedelta, lifetime: dt.timedelta | None) -> None:
    now = dt.datetime.now(dt.UTC) + shift
    until = now + (lifetime if lifetime is not None else dt.timedelta(minutes=5))
    resp.issue_instant = _fmt(now)
    for assertion in resp.assertion:
        assertion.issue_instant = _fmt(now)
        assertion.conditions.not_before = _fmt(now)
        assertion.conditions.not_on_or_after = _fmt(until)
        for sc in assertion.subject.subject_confirmation:
            sc.subject_confirmation_data.not_on_or_after = _fmt(until)
        for statement in assertion.authn_statement:
            statement.authn_instant = _fmt(now)


@pytest.fixture
def saml_idp(tmp_path):
    """``saml_idp(entity_id, key="a")`` → a TestIdP."""

    def make(entity_id: str, key: str = "a", sso_url: str | None = None) -> TestIdP:
        return TestIdP(entity_id=entity_id, key=key, workdir=tmp_path / "idp", sso_url=sso_url)

    return make


@pytest.fixture
def connect_idp():
    """``connect_idp(org, idp, provider)``: the org trusts that IdP (metadata import)."""

    def connect(org, idp: TestIdP, provider: str = "generic"):
        return saml_config_from_metadata(org=org, metadata_xml=idp.metadata_xml(), provider=provider)

    return connect


@pytest.fixture
def acs_post(client):
    """POST a SAMLResponse (and optional RelayState) to the ACS like a browser."""

    def post(saml_response: str, relay_state: str | None = None, **extra):
        data = {"SAMLResponse": saml_response}
        if relay_state is not None:
            data["RelayState"] = relay_state
        return client.post("/login/saml", data, **extra)

    return post
