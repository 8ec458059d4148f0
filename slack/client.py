"""slack-sdk WebClients pointed at ``SLACK_API_URL`` and trusting the CA bundle from
settings (slack-sdk talks through urllib, not requests: it takes an ``ssl.SSLContext``,
not ``REQUESTS_CA_BUNDLE``)."""

from __future__ import annotations

import logging
import ssl

from django.conf import settings
from slack_sdk import WebClient

from integrations.http import ca_bundle
from slack.models import SlackWorkspace

TIMEOUT = 30  # seconds, slack-sdk's default
# slack-sdk logs whole response bodies at DEBUG, tokens included (oauth.v2.access):
# its logger never goes below INFO.
SDK_LOG = logging.getLogger("slack.client.sdk")
SDK_LOG.setLevel(logging.INFO)


def ssl_context() -> ssl.SSLContext:
    """The trust store every outbound HTTPS call uses: the ``REQUESTS_CA_BUNDLE``
    setting when set (staging, tests), else the system default."""
    bundle = ca_bundle()
    return ssl.create_default_context(cafile=bundle if isinstance(bundle, str) else None)


def web_client(*, token: str | None = None) -> WebClient:
    """A WebClient without retries: a lost answer to a post is an unknown outcome only
    the caller can look up (integrations/http.py says why)."""
    client = WebClient(token=token, base_url=settings.SLACK_API_URL, ssl=ssl_context(), timeout=TIMEOUT,
                       logger=SDK_LOG)
    client.retry_handlers = []
    return client


def slack_client(workspace: SlackWorkspace) -> WebClient:
    """A WebClient acting as the Chorus bot of ``workspace``."""
    return web_client(token=(workspace.secrets or {}).get("bot_token") or None)
