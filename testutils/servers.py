"""Local servers shared by wire-level tests (a pytest plugin loaded by the root
conftest): a test certificate authority for HTTPS fakes of CRMs and dialers, and
moto's S3 server."""

from __future__ import annotations

import ssl

import pytest
import trustme
from pytest_httpserver import HTTPServer


@pytest.fixture(scope="session")
def tls_ca():
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_ca_file(tls_ca, tmp_path_factory):
    """The CA as a PEM file, for REQUESTS_CA_BUNDLE / ssl_ca_cert."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return str(path)


def https_server(ca) -> HTTPServer:
    """A started pytest-httpserver speaking HTTPS with a certificate of ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = HTTPServer(host="localhost", port=0, ssl_context=context)
    server.start()
    return server


@pytest.fixture(scope="session")
def _https_fake(tls_ca):
    server = https_server(tls_ca)
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def https_fake(_https_fake, tls_ca_file, settings, monkeypatch):
    """One HTTPS fake server for the session, cleared for each test and trusted
    through ``REQUESTS_CA_BUNDLE`` (the setting and the environment variable)."""
    _https_fake.clear()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_ca_file)
    settings.REQUESTS_CA_BUNDLE = tls_ca_file
    yield _https_fake
    _https_fake.clear()


@pytest.fixture(scope="session")
def moto_url():
    """moto's S3 server on 127.0.0.1, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
