"""Custom Media Bucket: the popup, the probe against moto's S3 server, errors in
plain words, Enterprise gating, tenancy, edit/remove without losing recordings."""

import io

import pytest
from django.db import connection as db
from django.urls import reverse

from chorus.models import AuditEvent, Organization
from integrations.models import Connection
from integrations.storage import services
from integrations.storage.models import RecordingFile
from integrations.storage.tests.conftest import S3_KEYS
from testutils.factories import EngagementFactory

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def s3_form(bucket, **extra):
    return {"kind": "s3", "bucket": bucket, "region": "us-east-1", "prefix": "chorus/recordings", **S3_KEYS, **extra}


def objects_in(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_add_a_new_bucket_opens_a_popup(admin_client, enterprise):
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Custom Media Bucket" in page and "Add a new Bucket" in page
    popup = admin_client.get(reverse("bucket-new"), **HX).content.decode()
    assert 'role="dialog"' in popup and "AWS S3" in popup and "Google Cloud Storage" in popup
    assert "Azure Blob Storage" in popup and "Secret access key" in popup and ">Save</button>" in popup
    gcs = admin_client.get(reverse("bucket-new"), {"kind": "gcs"}, **HX).content.decode()
    assert "Service account key (JSON)" in gcs and "Secret access key" not in gcs
    azure = admin_client.get(reverse("bucket-new"), {"kind": "azure"}, **HX).content.decode()
    assert "Container name" in azure and "Storage account key" in azure


def test_save_probes_the_bucket_and_stores_credentials_encrypted(admin_client, enterprise, admin_user, s3, s3_bucket):
    response = admin_client.post(reverse("bucket-new"), s3_form(s3_bucket), **HX)
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/settings/integrations/?bucket=saved#custom-media-bucket"

    bucket = Connection.objects.get(org=enterprise, provider="media_bucket")
    assert bucket.status == "ok" and bucket.connected_by == admin_user
    assert bucket.config == {"kind": "s3", "bucket": s3_bucket, "region": "us-east-1", "prefix": "chorus/recordings"}
    assert bucket.secrets == S3_KEYS
    with db.cursor() as cursor:
        cursor.execute("SELECT secrets, config FROM integrations_connection WHERE id = %s", [bucket.pk])
        raw_secrets, raw_config = cursor.fetchone()
    assert "wJalrXUtnFEMI" not in raw_secrets and "AKIAIOSFODNN7EXAMPLE" not in raw_secrets + raw_config
    assert objects_in(s3, s3_bucket) == []  # the probe object was deleted again
    assert AuditEvent.objects.filter(org=enterprise, action="media_bucket.added").exists()

    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Recordings are now stored in AWS S3" in page and s3_bucket in page and "chorus/recordings/" in page
    assert "wJalrXUtnFEMI" not in page and "AKIAIOSFODNN7EXAMPLE" not in page
    assert "••••••••MPLE" in page  # masked


def test_recordings_are_stored_in_the_bucket_and_stay_readable(
    enterprise, admin_user, s3, s3_bucket, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    bucket = services.bucket_save(org=enterprise, actor=admin_user, kind="s3", data=s3_form(s3_bucket))
    stored_in, name = services.recording_store(
        org=enterprise, name="recordings/zoom/abc/file.mp4", fileobj=io.BytesIO(b"video bytes")
    )
    assert stored_in == bucket
    assert s3.get_object(Bucket=s3_bucket, Key=f"chorus/recordings/{name}")["Body"].read() == b"video bytes"
    e = EngagementFactory(org=enterprise)
    rf = RecordingFile.objects.create(org=enterprise, engagement=e, bucket=stored_in, name=name, size=11)

    # A new bucket location: the old row is retired, the old recording still reads.
    other = f"{s3_bucket}-2"
    s3.create_bucket(Bucket=other)
    services.bucket_save(org=enterprise, actor=admin_user, kind="s3", data=s3_form(other), bucket=bucket)
    bucket.refresh_from_db()
    assert bucket.status == "disconnected" and bucket.secrets == S3_KEYS
    with services.recording_open(recording_file=rf) as fh:
        assert fh.read() == b"video bytes"

    # Removed: new recordings go to Chorus' own storage; the old one still reads.
    services.bucket_remove(bucket=services.bucket_active(org=enterprise), actor=admin_user)
    assert services.recording_store(org=enterprise, name="recordings/x.mp4", fileobj=io.BytesIO(b"local"))[0] is None
    assert (tmp_path / "recordings" / "x.mp4").read_bytes() == b"local"
    with services.recording_open(recording_file=rf) as fh:
        assert fh.read() == b"video bytes"


def test_edit_with_blank_secrets_keeps_them(admin_client, enterprise, admin_user, s3, s3_bucket):
    bucket = services.bucket_save(org=enterprise, actor=admin_user, kind="s3", data=s3_form(s3_bucket))
    form = admin_client.get(reverse("bucket-edit", args=[bucket.pk]), **HX).content.decode()
    assert s3_bucket in form and "wJalrXUtnFEMI" not in form and "leave blank to keep" in form
    response = admin_client.post(
        reverse("bucket-edit", args=[bucket.pk]),
        s3_form(s3_bucket, prefix="calls", access_key_id="", secret_access_key=""),
        **HX,
    )
    assert response.status_code == 204
    bucket.refresh_from_db()
    assert bucket.status == "disconnected"  # the prefix moved: a new row, this one kept for old recordings
    new = services.bucket_active(org=enterprise)
    assert new.config["prefix"] == "calls" and new.secrets == S3_KEYS


def test_missing_bucket_is_explained_and_nothing_is_saved(admin_client, enterprise, s3):
    html = admin_client.post(reverse("bucket-new"), s3_form("no-such-bucket-here"), **HX).content.decode()
    assert "AWS S3 says bucket “no-such-bucket-here” does not exist. Check the name and the region." in html
    assert 'role="dialog"' in html and not Connection.objects.filter(provider="media_bucket").exists()
    assert "wJalrXUtnFEMI" not in html  # the secret is not echoed back into the form


@pytest.fixture
def aws_auth(monkeypatch):
    """moto checks signatures and IAM policies from here on."""
    import moto.settings

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)


def test_unknown_access_key_is_explained(admin_client, enterprise, s3, s3_bucket, aws_auth):
    html = admin_client.post(reverse("bucket-new"), s3_form(s3_bucket), **HX).content.decode()
    assert "AWS does not recognise this access key ID." in html
    assert not Connection.objects.filter(provider="media_bucket").exists()


def test_key_without_permissions_is_explained(admin_client, enterprise, s3, s3_bucket, moto_url, monkeypatch):
    import boto3
    import moto.settings

    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
    iam.create_user(UserName="chorus-no-rights")
    key = iam.create_access_key(UserName="chorus-no-rights")["AccessKey"]
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    html = admin_client.post(
        reverse("bucket-new"),
        s3_form(s3_bucket, access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"]),
        **HX,
    ).content.decode()
    assert f"AWS refused access to bucket “{s3_bucket}”: the key needs s3:PutObject" in html
    wrong = admin_client.post(
        reverse("bucket-new"),
        s3_form(s3_bucket, access_key_id=key["AccessKeyId"], secret_access_key="not-the-secret"),
        **HX,
    ).content.decode()
    assert "The secret access key does not match the access key ID." in wrong
    assert not Connection.objects.filter(provider="media_bucket").exists()


@pytest.mark.parametrize(
    "data, field_error",
    [
        ({"bucket": ""}, "Enter the bucket name."),
        ({"bucket": "s3://Acme_Bucket"}, "is not a valid bucket name"),
        ({"region": "Frankfurt"}, "is not an AWS region"),
        ({"secret_access_key": ""}, "Enter the secret access key."),
    ],
)
def test_bad_input_gives_field_errors(admin_client, enterprise, s3, s3_bucket, data, field_error):
    html = admin_client.post(reverse("bucket-new"), {**s3_form(s3_bucket), **data}, **HX).content.decode()
    assert field_error in html and 'role="alert"' in html
    assert not Connection.objects.filter(provider="media_bucket").exists()
    assert objects_in(s3, s3_bucket) == []


def test_plain_form_post_without_javascript(admin_client, enterprise, s3):
    response = admin_client.post(reverse("bucket-new"), s3_form("no-such-bucket-here"))
    assert response.status_code == 400 and "does not exist" in response.content.decode()
    assert "<h1>Custom Media Bucket</h1>" in response.content.decode()


def test_gcs_key_must_be_a_service_account_json(admin_client, enterprise):
    html = admin_client.post(
        reverse("bucket-new"),
        {"kind": "gcs", "bucket": "acme-recordings", "service_account_json": '{"hello": 1}'},
        **HX,
    ).content.decode()
    assert "This is not a service account key" in html


def test_unknown_kind_is_refused(enterprise, admin_user):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Choose AWS S3"):
        services.bucket_save(org=enterprise, actor=admin_user, kind="ftp", data={})


def test_provider_errors_in_plain_words():
    from azure.core import exceptions as aexc
    from google.api_core import exceptions as gexc

    gcs = {"bucket": "b"}
    assert "does not exist" in services.describe_error(gexc.NotFound("x"), kind="gcs", config=gcs)
    assert "Storage Object Admin" in services.describe_error(gexc.Forbidden("x"), kind="gcs", config=gcs)
    az = {"bucket": "c", "account_name": "acme"}
    assert "container “c” does not exist" in services.describe_error(
        aexc.ResourceNotFoundError("x"), kind="azure", config=az
    )
    assert "did not accept the storage account key" in services.describe_error(
        aexc.ClientAuthenticationError("x"), kind="azure", config=az
    )
    assert "refused the test file (RuntimeError)" in services.describe_error(
        RuntimeError("secret!"), kind="azure", config=az
    )


# --- Gating, permissions and tenancy --------------------------------------------------------------------


def test_standard_package_sees_the_upgrade_note_and_cannot_save(admin_client, org, s3, s3_bucket):
    assert org.package == Organization.Package.STANDARD
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Custom Media Bucket is available with the Chorus Enterprise package." in page
    assert admin_client.get(reverse("bucket-new"), **HX).status_code == 403
    assert admin_client.post(reverse("bucket-new"), s3_form(s3_bucket), **HX).status_code == 403
    assert not Connection.objects.filter(provider="media_bucket").exists()


@pytest.mark.parametrize(
    "method, name, args",
    [
        ("get", "bucket-new", []),
        ("post", "bucket-new", []),
        ("get", "bucket-edit", [1]),
        ("post", "bucket-remove", [1]),
    ],
)
def test_non_admins_get_403(rep_client, enterprise, method, name, args):
    assert getattr(rep_client, method)(reverse(name, args=args)).status_code == 403


def test_another_orgs_bucket_is_404(admin_client, enterprise, other_org):
    other_org.package = Organization.Package.ENTERPRISE
    other_org.save()
    theirs = Connection.objects.create(
        org=other_org, provider="media_bucket", status="ok", config={"kind": "s3", "bucket": "globex"}, secrets=S3_KEYS
    )
    assert admin_client.get(reverse("bucket-edit", args=[theirs.pk]), **HX).status_code == 404
    assert admin_client.post(reverse("bucket-edit", args=[theirs.pk]), s3_form("x"), **HX).status_code == 404
    assert admin_client.post(reverse("bucket-remove", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "ok" and theirs.config["bucket"] == "globex"


def test_remove_keeps_the_row_for_existing_recordings(admin_client, enterprise, admin_user, s3, s3_bucket):
    bucket = services.bucket_save(org=enterprise, actor=admin_user, kind="s3", data=s3_form(s3_bucket))
    response = admin_client.post(reverse("bucket-remove", args=[bucket.pk]), follow=True)
    assert "remain playable" in response.content.decode()
    bucket.refresh_from_db()
    assert bucket.status == "disconnected" and services.bucket_active(org=enterprise) is None


# --- Playback -----------------------------------------------------------------------------------------


def test_recording_media_from_chorus_storage_and_from_the_bucket(
    client, enterprise, admin_user, rep_user, other_org, s3, s3_bucket, settings, tmp_path
):
    import requests

    settings.MEDIA_ROOT = str(tmp_path)
    local_e = EngagementFactory(org=enterprise)
    _, name = services.recording_store(org=enterprise, name="recordings/a.mp4", fileobj=io.BytesIO(b"local video"))
    RecordingFile.objects.create(org=enterprise, engagement=local_e, name=name, content_type="video/mp4")
    bucket = services.bucket_save(org=enterprise, actor=admin_user, kind="s3", data=s3_form(s3_bucket))
    s3_e = EngagementFactory(org=enterprise)
    _, key = services.recording_store(org=enterprise, name="recordings/b.mp4", fileobj=io.BytesIO(b"bucket video"))
    RecordingFile.objects.create(org=enterprise, engagement=s3_e, bucket=bucket, name=key, content_type="video/mp4")

    client.force_login(rep_user)  # any member of the org may play its recordings
    response = client.get(reverse("recording-media", args=[local_e.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"local video"
    response = client.get(reverse("recording-media", args=[s3_e.pk]))
    assert response.status_code == 302 and "X-Amz-Signature=" in response["Location"]
    assert requests.get(response["Location"], timeout=10).content == b"bucket video"

    theirs = EngagementFactory(org=other_org)
    RecordingFile.objects.create(org=other_org, engagement=theirs, name=name)
    assert client.get(reverse("recording-media", args=[theirs.pk])).status_code == 404


# --- Azure Blob Storage against Azurite ------------------------------------------------------------------


def azure_form(container, **extra):
    from integrations.storage.tests.conftest import AZURITE_ACCOUNT, AZURITE_KEY

    return {
        "kind": "azure",
        "bucket": container,
        "region": "westeurope",
        "prefix": "chorus",
        "account_name": AZURITE_ACCOUNT,
        "account_key": AZURITE_KEY,
        **extra,
    }


def test_azure_container_is_probed_and_used(admin_client, enterprise, admin_user, azure_container):
    response = admin_client.post(reverse("bucket-new"), azure_form(azure_container.container_name), **HX)
    assert response.status_code == 204
    bucket = services.bucket_active(org=enterprise)
    assert bucket.config["kind"] == "azure" and list(azure_container.list_blobs()) == []
    _, name = services.recording_store(org=enterprise, name="recordings/c.m4a", fileobj=io.BytesIO(b"audio"))
    assert azure_container.download_blob(f"chorus/{name}").readall() == b"audio"


def test_azure_errors_in_plain_words(admin_client, enterprise, azure_container):
    import base64

    missing = admin_client.post(reverse("bucket-new"), azure_form("no-such-container"), **HX).content.decode()
    assert "Azure says container “no-such-container” does not exist" in missing
    wrong_key = base64.b64encode(b"x" * 64).decode()
    bad = admin_client.post(
        reverse("bucket-new"), azure_form(azure_container.container_name, account_key=wrong_key), **HX
    ).content.decode()
    assert "Azure did not accept the storage account key" in bad
    assert not Connection.objects.filter(provider="media_bucket").exists()


# --- Google Cloud Storage through the client's emulator endpoint ----------------------------------------


def gcs_form(state, bucket="acme-gcs", **extra):
    return {
        "kind": "gcs",
        "bucket": bucket,
        "region": "us-central1",
        "prefix": "chorus",
        "service_account_json": state["service_account_json"],
        **extra,
    }


def test_gcs_bucket_is_probed_and_used(admin_client, enterprise, fake_gcs, httpserver):
    response = admin_client.post(reverse("bucket-new"), gcs_form(fake_gcs), **HX)
    assert response.status_code == 204, response.content.decode()[:2000]
    assert fake_gcs["objects"] == {} and fake_gcs["tokens"] >= 1  # probe written, read, deleted
    methods = [(r.method, r.path.split("/o")[0]) for r, _ in httpserver.log if "storage/v1" in r.path]
    assert ("POST", "/upload/storage/v1/b/acme-gcs") in methods and ("DELETE", "/storage/v1/b/acme-gcs") in methods
    bucket = services.bucket_active(org=enterprise)
    assert "PRIVATE KEY" not in json_dumps_raw(bucket)
    _, name = services.recording_store(org=enterprise, name="recordings/d.mp4", fileobj=io.BytesIO(b"gcs video"))
    assert fake_gcs["objects"][("acme-gcs", f"chorus/{name}")] == b"gcs video"


def json_dumps_raw(bucket):
    with db.cursor() as cursor:
        cursor.execute("SELECT secrets FROM integrations_connection WHERE id = %s", [bucket.pk])
        return cursor.fetchone()[0]


def test_gcs_errors_in_plain_words(admin_client, enterprise, fake_gcs):
    missing = admin_client.post(reverse("bucket-new"), gcs_form(fake_gcs, bucket="no-such-bucket"), **HX)
    assert "Google Cloud Storage says bucket “no-such-bucket” does not exist." in missing.content.decode()
    fake_gcs["forbidden"].add("acme-gcs")
    forbidden = admin_client.post(reverse("bucket-new"), gcs_form(fake_gcs), **HX).content.decode()
    assert "give the service account the Storage Object Admin role" in forbidden
    assert not Connection.objects.filter(provider="media_bucket").exists()
