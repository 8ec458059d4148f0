"""Importer families: the only code behind the catalogue's 35 rows.

``importer_for`` builds the family of a connection's dialer (a dict dispatch on the
row's ``family``); each family yields pages of :class:`CallRecord` for a window and
fetches one recording at a time."""

from __future__ import annotations

from dialers.catalogue import CRM_TASK, DIALER_API, NO_IMPORTER, S3_BUCKET, ZOOM_PHONE, Dialer
from dialers.importers.base import CallRecord, DialerImportError, Importer, MediaError, Stored
from integrations.http import HttpSession, http_session

__all__ = ["CallRecord", "DialerImportError", "Importer", "MediaError", "Stored", "importer_for"]


def _http() -> HttpSession:
    """The families' session: the shared one (CA bundle, default timeout, user agent)."""
    return http_session()


def _media_auth(dialer: Dialer, secrets: dict, config: dict):
    """Basic auth for username/password (or id/secret) rows, an API key header for key-only rows."""
    names = [f.name for f in dialer.credentials]
    if "username" in names and "password" in names:
        return (str(config.get("username") or secrets.get("username", "")), str(secrets.get("password", ""))), None
    if "auth_id" in names:
        return (str(config.get("auth_id", "")), str(secrets.get("auth_secret_key", ""))), None
    if names == ["api_key"]:
        return None, {"X-Api-Key": str(secrets.get("api_key", ""))}
    return None, None


def _crm_task(*, connection, dialer: Dialer, crm_connection):
    from dialers.importers.crm_task import CrmTaskImporter, call_task_source, own_key_call_source

    auth, headers = _media_auth(dialer, connection.secrets, connection.config)
    if dialer.reads_crm and (crm_connection is None or crm_connection.provider != dialer.reads_crm):
        source = own_key_call_source(org=connection.org, dialer=dialer, secrets=connection.secrets)
    else:
        source = call_task_source(org=connection.org, crm_connection=crm_connection)
    return CrmTaskImporter(source=source, field=connection.config.get("crm_field", ""), http=_http(), auth=auth,
                           headers=headers)


def _s3_bucket(*, connection, dialer: Dialer, crm_connection):
    from dialers.importers.crm_task import call_task_source
    from dialers.importers.s3_bucket import S3BucketImporter, s3_client

    return S3BucketImporter(source=call_task_source(org=connection.org, crm_connection=crm_connection),
                            field=connection.config.get("crm_field", ""), client=s3_client(secrets=connection.secrets),
                            bucket_link=connection.config.get("s3_bucket_link", ""))


def _dialer_api(*, connection, dialer: Dialer, crm_connection):
    from dialers.importers.dialer_api import IMPORTERS, DialerApiImporter

    cls = IMPORTERS.get(dialer.api_style, DialerApiImporter)
    return cls(dialer=dialer, config=connection.config, secrets=connection.secrets, http=_http())


ZOOM_PROVIDER = "zoom"  # the Chorus Zoom app (Native Zoom Integration), found in the registry


def _zoom_phone(*, connection, dialer: Dialer, crm_connection):
    from dialers.importers.zoom_phone import ZoomPhoneImporter
    from integrations.registry import PROVIDERS

    zoom = PROVIDERS.get(ZOOM_PROVIDER)
    client = zoom.api_client(org=connection.org) if zoom is not None else None
    if client is None:
        raise DialerImportError("The Chorus Zoom app is not installed: click Activate under Native Zoom Integration "
                                "(Settings > Integrations) and approve it in Zoom; Zoom Phone calls are then "
                                "imported at the next hourly run.")
    return ZoomPhoneImporter(client=client, http=_http())


def _no_importer(*, connection, dialer: Dialer, crm_connection):
    raise DialerImportError(dialer.no_api)


FAMILIES = {CRM_TASK: _crm_task, S3_BUCKET: _s3_bucket, DIALER_API: _dialer_api, ZOOM_PHONE: _zoom_phone,
            NO_IMPORTER: _no_importer}


def importer_for(*, connection, dialer: Dialer, crm_connection) -> Importer:
    return FAMILIES[dialer.family](connection=connection, dialer=dialer, crm_connection=crm_connection)
