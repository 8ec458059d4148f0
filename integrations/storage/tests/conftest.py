import uuid

import boto3
import pytest

from chorus.models import Organization


@pytest.fixture
def s3(moto_url, monkeypatch):
    """boto3 (and so django-storages) pointed at moto through the standard
    AWS_ENDPOINT_URL_S3 setting, as staging would be."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", moto_url)
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return boto3.client("s3", region_name="us-east-1", aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")


@pytest.fixture
def s3_bucket(s3):
    name = f"acme-recordings-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def enterprise(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    return org


S3_KEYS = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (documented, not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="session")
def azurite_url(tmp_path_factory):
    """Azurite (npm) blob service on 127.0.0.1; skipped where it is not installed
    (`npm install azurite`, then put node_modules/.bin on PATH or set AZURITE_BLOB)."""
    import os
    import shutil
    import socket
    import subprocess
    import time

    binary = os.environ.get("AZURITE_BLOB") or shutil.which("azurite-blob")
    if not binary:
        pytest.skip("Azurite is not installed (npm install azurite)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(  # noqa: S603 - a test fixture starting a local emulator
        [
            binary,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(tmp_path_factory.mktemp("azurite")),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def azure_container(azurite_url, monkeypatch):
    from azure.storage.blob import BlobServiceClient

    monkeypatch.setenv("AZURE_STORAGE_BLOB_ENDPOINT", azurite_url)
    name = f"chorus-{uuid.uuid4().hex[:8]}"
    service = BlobServiceClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={azurite_url}/{AZURITE_ACCOUNT};"
    )
    service.create_container(name)
    return service.get_container_client(name)


@pytest.fixture
def fake_gcs(httpserver, monkeypatch):
    """A minimal Google Cloud Storage JSON API on the local server, reached the
    way the client library reaches an emulator (STORAGE_EMULATOR_HOST); the
    service account's token_uri points at the same server."""
    import json
    import re

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from werkzeug import Response

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", httpserver.url_for("").rstrip("/"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    service_account = {
        "type": "service_account",
        "project_id": "acme-proj",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "chorus@acme-proj.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": httpserver.url_for("/token"),
    }
    state = {"objects": {}, "buckets": {"acme-gcs"}, "forbidden": set(), "tokens": 0}

    def token(request):
        state["tokens"] += 1
        return Response(
            json.dumps({"access_token": "GCS-TOKEN", "expires_in": 3600, "token_type": "Bearer"}),
            content_type="application/json",
        )

    def error(code, message):
        return Response(
            json.dumps({"error": {"code": code, "message": message}}), status=code, content_type="application/json"
        )

    def api(request):
        if request.headers.get("Authorization") != "Bearer GCS-TOKEN":
            return error(401, "Invalid Credentials")
        m = re.match(r"^/(upload/|download/)?storage/v1/b/([^/]+)/o/?(.*)$", request.path)
        if not m:
            return error(404, "Not Found")
        kind, bucket, name = m.group(1), m.group(2), m.group(3)
        if bucket not in state["buckets"]:
            return error(404, "The specified bucket does not exist.")
        if bucket in state["forbidden"]:
            return error(403, "chorus@acme-proj.iam.gserviceaccount.com does not have storage.objects.create access")
        if kind == "upload/" and request.method == "POST":
            body = request.get_data()
            boundary = request.mimetype_params["boundary"].encode()
            parts = [p for p in body.split(b"--" + boundary) if p.strip(b"-\r\n")]
            meta = json.loads(parts[0].split(b"\r\n\r\n", 1)[1])
            data = parts[1].split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
            state["objects"][(bucket, meta["name"])] = data
            return Response(
                json.dumps({"bucket": bucket, "name": meta["name"], "size": str(len(data)), "generation": "1"}),
                content_type="application/json",
            )
        obj = (bucket, name)
        if obj not in state["objects"]:
            return error(404, "No such object")
        if request.method == "DELETE":
            del state["objects"][obj]
            return Response(status=204)
        if kind == "download/" or request.args.get("alt") == "media":
            return Response(state["objects"][obj], content_type="application/octet-stream")
        return Response(
            json.dumps({"bucket": bucket, "name": name, "size": str(len(state["objects"][obj])), "generation": "1"}),
            content_type="application/json",
        )

    httpserver.expect_request("/token", method="POST").respond_with_handler(token)
    httpserver.expect_request(re.compile(r"^/(upload/|download/)?storage/v1/.*")).respond_with_handler(api)
    state["service_account_json"] = json.dumps(service_account)
    return state
