import os

import pytest

from testutils.factories import OrganizationFactory, UserFactory, role

pytest_plugins = ["testutils.servers", "testutils.saml_idp", "testutils.ready", "testutils.openai_fakes.transcriptions",
                  "testutils.slack_fake"]


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme", slug="acme", email_domains=["acme.example"])


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Globex", slug="globex", email_domains=["globex.example"])


@pytest.fixture
def admin_user(org):
    return UserFactory(org=org, email="admin@acme.example", first_name="Ada", last_name="Admin",
                       role=role(org, "Admin"))


@pytest.fixture
def rep_user(org):
    return UserFactory(org=org, email="rep@acme.example", first_name="Rey", last_name="Rep")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def rep_client(client, rep_user):
    client.force_login(rep_user)
    return client


# --- Browser tests ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls that
    # tests make around it are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    from testutils.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(_browser, live_server):
    """A fresh browser context (no cookies) and page for each test."""
    context = _browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def migrated_schedules(db):
    """The django-q2 Schedule rows the migrations create. A transactional test
    (``transaction=True``) ends with a flush that empties them too; a later test on the
    same worker that checks them gets them back from the migrations' own
    ``create_schedule`` functions."""
    import sys

    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader
    from django_q.models import Schedule

    if not Schedule.objects.filter(repeats=-1).exists():
        loader = MigrationLoader(None, ignore_no_migrations=True)
        for migration in loader.disk_migrations.values():
            create = getattr(sys.modules[type(migration).__module__], "create_schedule", None)
            if create:
                create(apps, None)
    return Schedule.objects
