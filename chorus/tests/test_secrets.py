"""Secrets at rest: encrypted in the database, masked everywhere they are shown,
never logged, and key rotation works."""

import io
import logging
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from chorus.secrets import MASK, Secret, mask
from integrations.models import Connection
from testutils.factories import UserFactory, role

CANARY = "canary-7f3a9c1e5b2d4f60-sekret"


def raw_column(model, pk, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {model._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def conn(org):
    return Connection.objects.create(org=org, provider="five9", config={"region": "us"},
                                     secrets={"auth_key": "key-1", "auth_secret": CANARY})


def test_secrets_are_stored_encrypted_and_read_back(conn):
    stored = raw_column(Connection, conn.pk, "secrets")
    assert CANARY not in stored and "auth_secret" not in stored
    conn = Connection.objects.get(pk=conn.pk)
    assert conn.secrets["auth_secret"] == CANARY
    assert isinstance(conn.secrets["auth_secret"], Secret)


def test_secret_repr_is_masked_so_logs_and_tracebacks_hide_it(conn, caplog):
    conn = Connection.objects.get(pk=conn.pk)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("chorus.test").info("connection secrets: %r", conn.secrets)
    assert CANARY not in caplog.text
    assert repr(conn.secrets["auth_secret"]).startswith("Secret('" + MASK)


def test_mask_shows_at_most_the_last_four_characters():
    assert mask("") == ""
    assert mask("short") == MASK
    assert mask("abcdefghijklmnop") == MASK + "mnop"


def test_canary_is_absent_from_database_file_logs_and_admin_html(db, org, conn, client, caplog, settings, tmp_path):
    """A planted secret never appears in the SQLite file, the logs, or any page."""
    support = UserFactory(org=None, email="support@chorus.example", is_staff=True, is_superuser=True, role=None)
    client.force_login(support)
    admin_user = UserFactory(org=org, email="boss@acme.example", role=role(org, "Admin"))
    with caplog.at_level(logging.DEBUG):
        pages = [
            client.get(f"/admin/integrations/connection/{conn.pk}/change/"),
            client.get("/admin/integrations/connection/"),
        ]
        client.force_login(admin_user)
        pages.append(client.get("/settings/integrations/"))
    for response in pages:
        assert response.status_code == 200
        assert CANARY not in response.content.decode()
    assert MASK in pages[0].content.decode()
    assert CANARY not in caplog.text

    # Everything the database holds, as SQL (SQLite can dump itself; other
    # databases are covered by the raw-column and committed-file tests).
    if connection.vendor == "sqlite":
        dump = "\n".join(connection.connection.iterdump())
        assert "auth_secret" not in dump and CANARY not in dump


def test_dumpdata_does_not_write_secrets_in_clear(conn, capsys):
    call_command("dumpdata", "integrations.connection")
    out = capsys.readouterr().out
    assert CANARY not in out


def test_key_rotation(conn, settings):
    old_key = settings.CHORUS_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    before = raw_column(Connection, conn.pk, "secrets")

    settings.CHORUS_ENCRYPTION_KEYS = [new_key, old_key]  # new key first; old still decrypts
    assert Connection.objects.get(pk=conn.pk).secrets["auth_secret"] == CANARY
    call_command("rotate_secrets", stdout=io.StringIO())
    after = raw_column(Connection, conn.pk, "secrets")
    assert after != before

    settings.CHORUS_ENCRYPTION_KEYS = [new_key]  # old key dropped: rows still readable
    assert Connection.objects.get(pk=conn.pk).secrets["auth_secret"] == CANARY


def test_missing_key_gives_a_clear_error_not_garbage(conn, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.CHORUS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="rotate_secrets"):
        Connection.objects.get(pk=conn.pk)


@pytest.mark.django_db(transaction=True)
def test_canary_is_absent_from_the_committed_database_file(org):
    """Committed to disk (the SQLite file and its write-ahead log), the secret is
    only ciphertext."""
    Connection.objects.create(org=org, provider="five9", secrets={"auth_secret": CANARY})
    path = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite" or not isinstance(path, str) or "memory" in path:
        pytest.skip("reads the SQLite file directly")
    blobs = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if os.path.exists(p))
    assert b"five9" in blobs  # the row is really there…
    assert CANARY.encode() not in blobs  # …but not the secret
