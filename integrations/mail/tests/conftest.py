"""Fixtures of the email import tests: a Gmail and a Graph fake on the local test
server, and the Google / Microsoft calendars (with their mailboxes) they serve.
The CRM fixtures of ``crm/tests/conftest.py`` are imported for the Email-column
tests (``push_crm`` picks the CRM)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.tests.conftest import connection, crm_server, fake, push_settings, rep  # noqa: F401 (fixtures)
from integrations.conferencing.models import Calendar
from integrations.mail.models import Mailbox
from integrations.mail.tests.gmail_fake import GmailFake
from integrations.mail.tests.graph_mail_fake import GraphMailFake
from testutils.factories import UserFactory

FAR = "2999-01-01T00:00:00+00:00"


def ago(**kw):
    return timezone.now().replace(microsecond=0) - timedelta(**kw)


@pytest.fixture
def ada(org):
    return UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def bob(org):
    return UserFactory(org=org, email="bob@acme.example", first_name="Bob", last_name="Builder")


def mailbox_for(user, provider, token):
    calendar = Calendar.objects.create(org=user.org, user=user, provider=provider, account_email=user.email,
                                       secrets={"access_token": token, "refresh_token": "R", "expires_at": FAR})
    return Mailbox.objects.create(org=user.org, calendar=calendar)


@pytest.fixture
def gmail(httpserver, settings):
    settings.GOOGLE_API_URL = httpserver.url_for("/g").rstrip("/")
    fakes = {}

    def for_token(token="G-ACCESS") -> GmailFake:
        fakes[token] = GmailFake(token=token)
        return fakes[token]

    def handle(request):
        auth = request.headers.get("Authorization", "").removeprefix("Bearer ")
        target = fakes.get(auth) or next(iter(fakes.values()))
        return target.handle(request)

    httpserver.expect_request(re.compile(r"/g/gmail/v1/.*")).respond_with_handler(handle)
    return for_token


@pytest.fixture
def graph(httpserver, settings):
    settings.MICROSOFT_GRAPH_URL = httpserver.url_for("/graph").rstrip("/")
    fakes = {}

    def for_token(token="M-ACCESS") -> GraphMailFake:
        fakes[token] = GraphMailFake(base=settings.MICROSOFT_GRAPH_URL, token=token)
        return fakes[token]

    def handle(request):
        auth = request.headers.get("Authorization", "").removeprefix("Bearer ")
        target = fakes.get(auth) or next(iter(fakes.values()))
        return target.handle(request)

    httpserver.expect_request(re.compile(r"/graph/me/mailFolders/.*")).respond_with_handler(handle)
    return for_token
