"""Connecting Gainsight (Settings > Integrations > Gainsight Integration > Add) and
disconnecting it. The Access Key is checked against Gainsight before anything is
saved; it is stored encrypted in ``Connection.secrets`` and never shown again."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chorus.services import audit_record
from gainsight.client import GainsightClient, GainsightError
from integrations.models import Connection, ConnectionStatus
from integrations.selectors import connection_in_category

PROVIDER_KEY = "gainsight"
SALESFORCE = "salesforce"
GAINSIGHT_HOST = ".gainsightcloud.com"
LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

DOMAIN_REQUIRED = "Enter the Domain Name: NAME in https://NAME.gainsightcloud.com/."
DOMAIN_INVALID = ("Enter only the leading part of your Gainsight address: for https://NAME.gainsightcloud.com/ "
                  "enter NAME (letters, digits and hyphens).")
KEY_REQUIRED = "Enter the Access Key."
KEY_REFUSED = ("Gainsight refused the Access Key. Copy it again from Gainsight (Cogwheel > Integrations > "
               "Connectors 2.0) and check the Domain Name.")
UNREACHABLE = ("Chorus could not reach {host}: check the Domain Name (NAME in https://NAME.gainsightcloud.com/). "
               "Nothing was saved.")
NOT_FOUND = ("{host} does not answer as a Gainsight tenant: check the Domain Name. Nothing was saved.")
FAILED_CHECK = "Gainsight did not accept the check ({detail}). Nothing was saved; try again in a few minutes."
NEEDS_SALESFORCE = ("Gainsight needs a working Salesforce connection: connect Salesforce in CRM Connect first "
                    "(Chorus finds each meeting's Gainsight company by its Salesforce account).")
SALESFORCE_BROKEN = ("Gainsight needs a working Salesforce connection, and Chorus's Salesforce connection has a "
                     "problem: {error} Fix it in CRM Connect.")
ENTERPRISE_ONLY = "The Gainsight integration is available with the Chorus Enterprise package."


def gainsight_domain_normalize(value: str) -> str:
    """``acme``, ``acme.gainsightcloud.com`` or ``https://acme.gainsightcloud.com/``
    → ``acme``; anything else (other hosts, paths, spaces…) is refused."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(DOMAIN_REQUIRED)
    if any(c.isspace() for c in raw):
        raise ValidationError(DOMAIN_INVALID)
    lowered = raw.lower()
    if LABEL.match(lowered):
        return lowered
    parts = urlsplit(lowered if "://" in lowered else "https://" + lowered)
    try:
        port = parts.port
    except ValueError:
        raise ValidationError(DOMAIN_INVALID) from None
    host = parts.hostname or ""
    if (parts.scheme not in ("https", "http") or port or parts.username or parts.password or parts.query
            or parts.fragment or parts.path not in ("", "/") or not host.endswith(GAINSIGHT_HOST)):
        raise ValidationError(DOMAIN_INVALID)
    name = host[: -len(GAINSIGHT_HOST)]
    if not LABEL.match(name):
        raise ValidationError(DOMAIN_INVALID)
    return name


def salesforce_problem(*, org) -> str:
    """"" when the org has a working Salesforce connection, else the sentence that
    says what is missing. Gainsight finds companies by their Salesforce Account Id,
    so it works with Salesforce only (the seed: "You must have a working Salesforce
    connection")."""
    crm = connection_in_category(org=org, category="crm")
    if crm is None or crm.provider != SALESFORCE:
        return NEEDS_SALESFORCE
    if crm.status == ConnectionStatus.FAILED:
        return SALESFORCE_BROKEN.format(error=(crm.last_error or "its last sync failed.").rstrip(". ") + ".")
    return ""


def gainsight_connection(*, org) -> Connection | None:
    return (Connection.objects.for_org(org).filter(provider=PROVIDER_KEY)
            .exclude(status=ConnectionStatus.DISCONNECTED).select_related("connected_by")
            .order_by("-updated_at").first())


def gainsight_connect(*, org, actor, access_key: str, domain: str, client_class=GainsightClient) -> Connection:
    """Check the key against Gainsight, then save (replacing an earlier connection).
    Raises ``ValidationError`` (field errors) or ``GainsightError``; nothing is saved
    then."""
    if not org.is_enterprise:
        raise ValidationError(ENTERPRISE_ONLY)
    problem = salesforce_problem(org=org)
    if problem:
        raise ValidationError(problem)
    errors: dict[str, list[str]] = {}
    access_key = (access_key or "").strip()
    if not access_key:
        errors["access_key"] = [KEY_REQUIRED]
    try:
        name = gainsight_domain_normalize(domain)
    except ValidationError as exc:
        errors["domain"] = exc.messages
    if errors:
        raise ValidationError(errors)
    host = f"{name}.gainsightcloud.com"
    try:
        client_class(domain=name, access_key=access_key).probe()
    except GainsightError as exc:
        if exc.auth:
            raise ValidationError({"access_key": [KEY_REFUSED]}) from None
        if exc.status == 0:
            raise GainsightError(UNREACHABLE.format(host=host)) from None
        if exc.status == 404:
            raise GainsightError(NOT_FOUND.format(host=host)) from None
        raise GainsightError(FAILED_CHECK.format(detail=str(exc).rstrip("."))) from None
    now = timezone.now()
    with transaction.atomic():
        previous = list(Connection.objects.for_org(org).filter(provider=PROVIDER_KEY)
                        .exclude(status=ConnectionStatus.DISCONNECTED))
        Connection.objects.filter(pk__in=[c.pk for c in previous]).update(
            status=ConnectionStatus.DISCONNECTED, updated_at=now)
        connection = Connection.objects.create(
            org=org, provider=PROVIDER_KEY, config={"domain": name}, secrets={"access_key": access_key},
            status=ConnectionStatus.OK, last_run_at=now, connected_by=actor)
        audit_record(org=org, actor=actor, action="gainsight.connected", target=host,
                     changes={"domain": name, "replaced": [c.pk for c in previous]})
    return connection


def gainsight_disconnect(*, connection: Connection, actor) -> None:
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(status=ConnectionStatus.DISCONNECTED,
                                                           updated_at=timezone.now())
        audit_record(org=connection.org, actor=actor, action="gainsight.disconnected",
                     target=f"{connection.config.get('domain', '')}.gainsightcloud.com")


def gainsight_connection_failed(*, connection: Connection, error: str) -> None:
    """Gainsight stopped accepting the key: the section says so until an admin
    submits a new one."""
    Connection.objects.filter(pk=connection.pk).update(status=ConnectionStatus.FAILED, last_error=error,
                                                       last_run_at=timezone.now(), updated_at=timezone.now())
