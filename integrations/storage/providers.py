"""The three kinds of Custom Media Bucket, described as data: the fields the
popup asks for and how to build a django-storages backend from a connection."""

from __future__ import annotations

import json
from dataclasses import dataclass

from integrations.registry import Param

PROVIDER_KEY = "media_bucket"


@dataclass(frozen=True)
class BucketKind:
    key: str
    label: str
    container_label: str
    params: tuple[Param, ...]

    @property
    def public_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.secret)

    @property
    def secret_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.secret)


PREFIX = Param(
    "prefix",
    "Path prefix",
    required=False,
    help="Optional folder inside the bucket, e.g. chorus/recordings. Leave empty for the top level.",
)

KINDS: dict[str, BucketKind] = {
    "s3": BucketKind(
        "s3",
        "AWS S3",
        "Bucket name",
        (
            Param("bucket", "Bucket name", help="The name only, e.g. acme-chorus-recordings (not an ARN or URL)."),
            Param("region", "Region", help="The bucket's AWS region, e.g. us-east-1."),
            PREFIX,
            Param(
                "access_key_id",
                "Access key ID",
                secret=True,
                help="An IAM user's key allowed s3:PutObject, s3:GetObject and s3:DeleteObject on the bucket.",
            ),
            Param("secret_access_key", "Secret access key", secret=True),
        ),
    ),
    "gcs": BucketKind(
        "gcs",
        "Google Cloud Storage",
        "Bucket name",
        (
            Param("bucket", "Bucket name", help="The name only, e.g. acme-chorus-recordings."),
            Param(
                "region", "Location", required=False, help="The bucket's location, e.g. us-central1 (for reference)."
            ),
            PREFIX,
            Param(
                "service_account_json",
                "Service account key (JSON)",
                secret=True,
                help="Paste the JSON key of a service account with the Storage Object Admin role on the bucket.",
            ),
        ),
    ),
    "azure": BucketKind(
        "azure",
        "Azure Blob Storage",
        "Container name",
        (
            Param("bucket", "Container name", help="The blob container, e.g. chorus-recordings."),
            Param(
                "region",
                "Region",
                required=False,
                help="The storage account's region, e.g. westeurope (for reference).",
            ),
            PREFIX,
            Param("account_name", "Storage account name", help="e.g. acmerecordings"),
            Param(
                "account_key",
                "Storage account key",
                secret=True,
                help="Access keys > key1 or key2 of the storage account.",
            ),
        ),
    ),
}


def build_storage(*, kind: str, config: dict, secrets: dict):
    """A django-storages backend for one bucket. Endpoints come from the client
    libraries' own settings (``AWS_ENDPOINT_URL_S3``, ``STORAGE_EMULATOR_HOST``,
    ``AZURE_STORAGE_BLOB_ENDPOINT`` here), so staging and tests point them at
    local emulators without an admin-entered URL (no SSRF through this form)."""
    prefix = (config.get("prefix") or "").strip("/")
    if kind == "s3":
        from storages.backends.s3 import S3Storage

        return S3Storage(
            bucket_name=config["bucket"],
            region_name=config.get("region") or None,
            location=prefix,
            access_key=str(secrets.get("access_key_id", "")),
            secret_key=str(secrets.get("secret_access_key", "")),
            default_acl=None,
            file_overwrite=True,
            querystring_auth=True,
            querystring_expire=300,  # playback links are short-lived
            signature_version="s3v4",  # every region accepts SigV4; newer ones only it
        )
    if kind == "gcs":
        from google.oauth2 import service_account
        from storages.backends.gcloud import GoogleCloudStorage

        info = json.loads(str(secrets.get("service_account_json", "")))
        credentials = service_account.Credentials.from_service_account_info(info)
        return GoogleCloudStorage(
            bucket_name=config["bucket"],
            project_id=info.get("project_id"),
            credentials=credentials,
            location=prefix,
            file_overwrite=True,
        )
    if kind == "azure":
        import os

        from storages.backends.azure_storage import AzureStorage

        endpoint = os.environ.get("AZURE_STORAGE_BLOB_ENDPOINT", "")
        options = {}
        if endpoint:  # Azurite or a sovereign cloud
            options["connection_string"] = (
                f"DefaultEndpointsProtocol={endpoint.split(':', 1)[0]};AccountName={config['account_name']};"
                f"AccountKey={secrets.get('account_key', '')};"
                f"BlobEndpoint={endpoint.rstrip('/')}/{config['account_name']};"
            )
        return AzureStorage(
            account_name=config["account_name"],
            account_key=str(secrets.get("account_key", "")),
            azure_container=config["bucket"],
            location=prefix,
            overwrite_files=True,
            **options,
        )
    raise ValueError(f"Unknown bucket kind {kind!r}")
