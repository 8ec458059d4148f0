"""Custom Media Bucket: save (validated by a probe object), remove, and store
recordings in the org's bucket or, by default, in Chorus' own storage."""

from __future__ import annotations

import json
import logging
import re
import secrets as pysecrets
from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from chorus.models import Organization, User
from chorus.secrets import mask
from chorus.services import audit_record
from integrations.models import Connection, ConnectionStatus
from integrations.storage.providers import KINDS, PROVIDER_KEY, build_storage

log = logging.getLogger(__name__)

ENTERPRISE_ONLY = "Custom Media Bucket is available with the Chorus Enterprise package."
BUCKET_NAME_RE = {
    "s3": re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
    "gcs": re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$"),
    "azure": re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$"),
}
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


class BucketError(Exception):
    """The provider refused the probe; the message is a sentence for the admin."""


# --- Reads -----------------------------------------------------------------------------


def bucket_active(*, org: Organization) -> Connection | None:
    return Connection.objects.for_org(org).filter(provider=PROVIDER_KEY, status=ConnectionStatus.OK).first()


def bucket_section(request, org: Organization) -> dict[str, Any]:
    """Context of the Custom Media Bucket section of Settings > Integrations."""
    bucket = bucket_active(org=org)
    return {"org": org, "enterprise": org.is_enterprise, "bucket": bucket and bucket_describe(bucket=bucket)}


def bucket_describe(*, bucket: Connection) -> dict[str, Any]:
    kind = KINDS[bucket.config["kind"]]
    return {
        "pk": bucket.pk,
        "kind": kind,
        "config": bucket.config,
        "connected_by": bucket.connected_by,
        "last_run_at": bucket.last_run_at,
        "masked": [(p.label, mask(bucket.secrets.get(p.name))) for p in kind.secret_params],
    }


# --- Writes ----------------------------------------------------------------------------


def _clean(*, kind_key: str, data: dict[str, str], existing_secrets: dict | None) -> tuple[dict, dict]:
    """Validate the popup's fields; raise one ValidationError naming every bad field."""
    if kind_key not in KINDS:
        raise ValidationError({"kind": "Choose AWS S3, Google Cloud Storage or Azure Blob Storage."})
    kind = KINDS[kind_key]
    errors: dict[str, str] = {}
    config: dict[str, str] = {"kind": kind_key}
    secrets: dict[str, str] = {}
    for p in kind.params:
        value = (data.get(p.name) or "").strip()
        if p.secret:
            if not value and existing_secrets and existing_secrets.get(p.name):
                value = str(existing_secrets[p.name])  # blank on edit keeps the stored secret
            if p.required and not value:
                errors[p.name] = f"Enter the {p.label.lower()}."
            secrets[p.name] = value
            continue
        if p.required and not value:
            errors[p.name] = f"Enter the {p.label.lower()}."
        config[p.name] = value
    config["prefix"] = config.get("prefix", "").strip("/")
    bucket = config.get("bucket", "")
    if bucket and not BUCKET_NAME_RE[kind_key].match(bucket):
        errors["bucket"] = (
            f"“{bucket}” is not a valid {kind.container_label.lower()}: use lower-case letters, "
            "digits and hyphens (the name only, not a URL)."
        )
    if kind_key == "s3" and config.get("region") and not REGION_RE.match(config["region"]):
        errors["region"] = f"“{config['region']}” is not an AWS region; it looks like us-east-1 or eu-west-2."
    if kind_key == "gcs" and secrets.get("service_account_json"):
        try:
            info = json.loads(secrets["service_account_json"])
            if not isinstance(info, dict) or info.get("type") != "service_account" or "private_key" not in info:
                raise ValueError
        except ValueError:
            errors["service_account_json"] = (
                "This is not a service account key: paste the whole JSON file "
                'downloaded from Google Cloud (it has "type": "service_account").'
            )
    if errors:
        raise ValidationError(errors)
    return config, secrets


def bucket_probe(*, kind: str, config: dict, secrets: dict) -> None:
    """Write, read back and delete a small object, as recordings will be. Any
    refusal becomes a :class:`BucketError` in plain words."""
    name = f".chorus-probe/{pysecrets.token_hex(8)}.txt"
    body = (
        b"Chorus checks that it can write, read and delete recordings here. " + pysecrets.token_bytes(8).hex().encode()
    )
    try:
        storage = build_storage(kind=kind, config=config, secrets=secrets)
        saved = storage.save(name, ContentFile(body))
        try:
            with storage.open(saved, "rb") as fh:
                if fh.read() != body:
                    raise BucketError(
                        "Chorus wrote a test file but read back different content; "
                        "check that nothing rewrites objects in this bucket."
                    )
        finally:
            storage.delete(saved)
    except BucketError:
        raise
    except Exception as exc:  # every client library has its own exceptions: describe them
        raise BucketError(describe_error(exc, kind=kind, config=config)) from exc


def bucket_save(
    *, org: Organization, actor: User | None, kind: str, data: dict[str, str], bucket: Connection | None = None
) -> Connection:
    """Add a new Bucket (``bucket`` None) or edit one. Nothing is saved unless the
    probe succeeds. A new location gets a new row and the old one is retired with
    its credentials, so recordings already stored there stay readable."""
    if not org.is_enterprise:
        raise PermissionDenied(ENTERPRISE_ONLY)
    existing_secrets = bucket.secrets if bucket is not None and bucket.config.get("kind") == kind else None
    config, secrets = _clean(kind_key=kind, data=data, existing_secrets=existing_secrets)
    bucket_probe(kind=kind, config=config, secrets=secrets)
    same_place = bucket is not None and all(
        bucket.config.get(k) == config.get(k) for k in ("kind", "bucket", "prefix", "account_name")
    )
    now = timezone.now()
    with transaction.atomic():
        if same_place:
            bucket.config, bucket.secrets, bucket.last_run_at, bucket.last_error = config, secrets, now, ""
            bucket.status = ConnectionStatus.OK
            bucket.save()
            audit_record(org=org, actor=actor, action="media_bucket.updated", target=config["bucket"])
            return bucket
        Connection.objects.for_org(org).filter(provider=PROVIDER_KEY, status=ConnectionStatus.OK).update(
            status=ConnectionStatus.DISCONNECTED, updated_at=now
        )
        created = Connection.objects.create(
            org=org,
            provider=PROVIDER_KEY,
            config=config,
            secrets=secrets,
            status=ConnectionStatus.OK,
            last_run_at=now,
            connected_by=actor,
        )
        audit_record(
            org=org, actor=actor, action="media_bucket.added", target=config["bucket"], changes={"kind": [None, kind]}
        )
    return created


def bucket_remove(*, bucket: Connection, actor: User | None) -> None:
    """Stop storing new recordings in the bucket. Its row and credentials stay
    (retired) so the recordings already there remain readable."""
    bucket.status = ConnectionStatus.DISCONNECTED
    with transaction.atomic():
        bucket.save(update_fields=["status", "updated_at"])
        audit_record(org=bucket.org, actor=actor, action="media_bucket.removed", target=bucket.config.get("bucket", ""))


# --- Recordings --------------------------------------------------------------------------


def storage_for(*, bucket: Connection | None):
    if bucket is None:
        return default_storage
    return build_storage(kind=bucket.config["kind"], config=bucket.config, secrets=bucket.secrets)


def recording_store(*, org: Organization, name: str, fileobj: IO[bytes]) -> tuple[Connection | None, str]:
    """Store a recording file in the org's active bucket, else Chorus' storage.
    Returns the bucket (None for Chorus' storage) and the stored name."""
    bucket = bucket_active(org=org)
    saved = storage_for(bucket=bucket).save(name, File(fileobj, name=name.rsplit("/", 1)[-1]))
    return bucket, saved


def recording_open(*, recording_file) -> IO[bytes]:
    return storage_for(bucket=recording_file.bucket).open(recording_file.name, "rb")


# --- Signed media (players inside another site's frame) --------------------------------

MEDIA_SALT = "integrations.storage.signed-media"
MEDIA_MAX_AGE = 4 * 3600  # a page stays open a while; a leaked URL dies the same day


def signed_media_url(engagement) -> str:
    """A URL that plays the engagement's recording without a Chorus session, for
    embedded views (the Salesforce canvas, the Outreach tile) whose frame never carries
    Chorus' cookies. It names the org and the engagement, signed with a salt of its own
    and dated: it opens that one recording for ``MEDIA_MAX_AGE`` seconds."""
    from django.core import signing
    from django.urls import reverse

    token = signing.dumps({"o": engagement.org_id, "e": engagement.pk}, salt=MEDIA_SALT, compress=False)
    return reverse("recording-media-signed", args=[token])


def signed_media_target(token: str) -> tuple[int, int] | None:
    """(org id, engagement id) a signed media token names while it is fresh; else None."""
    from django.core import signing

    try:
        data = signing.loads(token, salt=MEDIA_SALT, max_age=MEDIA_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("o"), int) or not isinstance(data.get("e"), int):
        return None
    return data["o"], data["e"]


def recording_delete_stored(*, bucket: Connection | None, name: str) -> None:
    storage_for(bucket=bucket).delete(name)


# --- Errors in plain words -----------------------------------------------------------------


def describe_error(exc: Exception, *, kind: str, config: dict) -> str:
    label, bucket, region = KINDS[kind].label, config.get("bucket", ""), config.get("region", "")
    name = type(exc).__name__
    if kind == "s3":
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "")), str(err.get("Message", ""))
            return {
                "NoSuchBucket": f"AWS S3 says bucket “{bucket}” does not exist. Check the name and the region.",
                "InvalidAccessKeyId": "AWS does not recognise this access key ID. Check that it was copied whole "
                "and that the key is active in IAM.",
                "SignatureDoesNotMatch": "The secret access key does not match the access key ID.",
                "AccessDenied": f"AWS refused access to bucket “{bucket}”: the key needs s3:PutObject, "
                "s3:GetObject and s3:DeleteObject on it.",
                "PermanentRedirect": f"Bucket “{bucket}” is not in region {region}. Enter the bucket's own region.",
                "AuthorizationHeaderMalformed": f"Bucket “{bucket}” is not in region {region}. "
                "Enter the bucket's own region.",
                "403": f"AWS refused access to bucket “{bucket}” (403 Forbidden). Check the key's permissions.",
                "404": f"AWS S3 says bucket “{bucket}” does not exist. Check the name and the region.",
            }.get(code, f"AWS S3 refused the test file: {message or code}.")
        if isinstance(exc, EndpointConnectionError):
            return f"Chorus could not reach AWS S3 in region {region}. Check the region and try again."
        if isinstance(exc, NoCredentialsError):
            return "Enter the access key ID and the secret access key."
    if kind == "gcs":
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as gauth

        if isinstance(exc, gexc.NotFound):
            return f"Google Cloud Storage says bucket “{bucket}” does not exist."
        if isinstance(exc, gexc.Forbidden):
            return (
                f"Google Cloud refused access to bucket “{bucket}”: give the service account the "
                "Storage Object Admin role on it."
            )
        if isinstance(exc, gexc.Unauthorized | gauth.RefreshError):
            return "Google Cloud did not accept the service account key (it may have been deleted or disabled)."
        if isinstance(exc, ValueError | KeyError):
            return "The service account key is incomplete: paste the whole JSON file downloaded from Google Cloud."
    if kind == "azure":
        from azure.core import exceptions as aexc

        if isinstance(exc, aexc.ResourceNotFoundError):
            return f"Azure says container “{bucket}” does not exist in storage account “{config.get('account_name')}”."
        if isinstance(exc, aexc.ClientAuthenticationError):
            return (
                "Azure did not accept the storage account key. "
                "Copy key1 or key2 from the storage account's Access keys."
            )
        if isinstance(exc, aexc.ServiceRequestError):
            return f"Chorus could not reach storage account “{config.get('account_name')}”. Check the account name."
        if isinstance(exc, aexc.HttpResponseError) and getattr(exc, "status_code", None) == 403:
            return (
                "Azure did not accept the storage account key (403). Copy key1 or key2 from the storage account's "
                "Access keys, and check that the account's firewall lets Chorus in."
            )
        if isinstance(exc, aexc.HttpResponseError):
            return f"Azure refused the test file: {getattr(exc, 'reason', '') or exc.message}."
        if isinstance(exc, ValueError):
            return "The storage account key is not valid (it should be a long base64 string ending in ==)."
    log.warning("Unexpected %s error while checking a media bucket: %s", label, name)
    return f"{label} refused the test file ({name}). Check the details and try again."
