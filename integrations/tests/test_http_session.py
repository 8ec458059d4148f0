"""HttpSession reads the environment's proxy settings once, not twice per request, and
keeps requests' own rules when proxies are configured."""

import urllib.request

import pytest

from integrations.http import http_session

URL = "http://media.example.test/r/1.mp3"


def settings_for(session, url=URL):
    return session.merge_environment_settings(url, {}, None, None, None)


@pytest.fixture
def no_proxies(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_without_proxies_the_environment_is_not_read_per_request(no_proxies, monkeypatch, httpserver):
    session = http_session()
    reads = []
    real = urllib.request.getproxies_environment
    monkeypatch.setattr(urllib.request, "getproxies_environment", lambda: reads.append(1) or real())
    httpserver.expect_request("/r/1.mp3").respond_with_data(b"audio")
    for _ in range(3):
        assert session.get(httpserver.url_for("/r/1.mp3")).content == b"audio"
    assert reads == []
    assert settings_for(session)["proxies"] == {}


def test_configured_proxies_and_no_proxy_still_apply(no_proxies, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    session = http_session()
    assert settings_for(session)["proxies"]["http"] == "http://proxy.corp.example:3128"
    assert settings_for(session, "https://api.example.com/x")["proxies"]["https"] == "http://proxy.corp.example:3128"
    assert "http" not in settings_for(session, "http://media.internal.example/r/1")["proxies"]


def test_a_session_that_does_not_trust_the_environment_uses_no_proxy(no_proxies, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    session = http_session()
    session.trust_env = False
    assert settings_for(session, "https://api.example.com/x")["proxies"] == {}
