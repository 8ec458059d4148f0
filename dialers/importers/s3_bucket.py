"""The ``s3_bucket`` family (Five9, InsideSales.com, Amazon Connect): the dialer
writes recordings into an S3 bucket and logs the call as a CRM Task whose field
names the recording (``s3://bucket/key``, an S3 https URL, or a key under the
admin's S3 Bucket Link). Calls are listed from the CRM like ``crm_task``; media is
read with boto3 using the dialer's Auth Key / Auth Secret Key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO
from urllib.parse import unquote, urlsplit

from django.conf import settings

from dialers.importers.base import CHUNK, CallRecord, DialerImportError, MediaError, Stored, copy_capped
from integrations.calls import CallTaskSource


def parse_bucket_link(link: str) -> tuple[str, str]:
    """``s3://bucket/prefix/`` or ``https://bucket.s3.amazonaws.com/prefix`` → (bucket, prefix)."""
    link = (link or "").strip()
    if not link:
        return "", ""
    parts = urlsplit(link if "://" in link else f"s3://{link}")
    host = parts.hostname or ""
    path = unquote(parts.path.lstrip("/"))
    if parts.scheme == "s3":
        return parts.netloc, path
    if parts.scheme in ("http", "https") and host.endswith("amazonaws.com") and (
            ".s3" in host or host.startswith(("s3.", "s3-"))):
        if host.startswith("s3.") or host.startswith("s3-"):  # path-style: s3.region.amazonaws.com/bucket/key
            bucket, _, key = path.partition("/")
            return bucket, key
        return host.split(".s3", 1)[0], path  # virtual-hosted: bucket.s3.region.amazonaws.com/key
    raise DialerImportError(f"“{link}” is not an S3 bucket link (expected s3://bucket/path/).")


class S3BucketImporter:
    def __init__(self, *, source: CallTaskSource, field: str, client, bucket_link: str = ""):
        self.source, self.field, self.client = source, field, client
        self.bucket, self.prefix = parse_bucket_link(bucket_link)

    def pages(self, *, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        return self.source.call_tasks(field=self.field, since=since, until=until)

    def locate(self, source: str) -> tuple[str, str]:
        if "://" in source:
            try:
                bucket, key = parse_bucket_link(source)
            except DialerImportError as exc:
                raise MediaError(str(exc), permanent=True) from exc
        else:
            bucket, key = self.bucket, f"{self.prefix.rstrip('/')}/{source.lstrip('/')}" if self.prefix else source
        if not bucket or not key:
            raise MediaError("The call's recording field does not name an S3 object.", permanent=True)
        if self.bucket and bucket != self.bucket:
            # The credentials are for the admin's bucket; never read another one named by a CRM field.
            raise MediaError(f"The recording is in bucket “{bucket}”, not in the configured S3 Bucket Link.",
                             permanent=True)
        return bucket, key

    def fetch_media(self, record_source: str, dest: IO[bytes], *, max_bytes: int) -> Stored:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = self.locate(record_source)
        try:
            obj = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise MediaError("The recording is not in the S3 bucket (not uploaded yet, or deleted).") from exc
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
                raise MediaError("The S3 bucket refused Chorus: check the Auth Key and Auth Secret Key.") from exc
            if code == "NoSuchBucket":
                raise MediaError(f"The S3 bucket “{bucket}” does not exist.", permanent=True) from exc
            raise MediaError(f"S3 answered {code or 'an error'} for the recording.") from exc
        except BotoCoreError as exc:
            raise MediaError(f"Chorus could not reach the S3 bucket ({type(exc).__name__}).") from exc
        body = obj["Body"]
        try:
            return copy_capped(body.iter_chunks(CHUNK), dest, content_type=obj.get("ContentType", ""),
                               length=obj.get("ContentLength"), max_bytes=max_bytes)
        finally:
            body.close()


def s3_client(*, secrets: dict):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", aws_access_key_id=str(secrets.get("auth_key", "")),
        aws_secret_access_key=str(secrets.get("auth_secret_key", "")),
        endpoint_url=settings.DIALER_S3_ENDPOINT_URL or None,
        region_name=settings.DIALER_S3_REGION,
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}),
    )
