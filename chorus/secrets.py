"""Secrets at rest: Fernet-encrypted model fields and masked display.

Keys come from ``CHORUS_ENCRYPTION_KEYS`` (comma-separated). The first key encrypts;
every key decrypts, so a new key can be put first and old rows re-encrypted with
``manage.py rotate_secrets`` before the old key is dropped.

Decrypted values come back as :class:`Secret`, a ``str`` whose ``repr`` is masked,
so a secret that slips into a log line, an exception or the Django admin shows as
``Secret('••••1234')`` rather than in clear.
"""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

MASK = "••••••••"


class Secret(str):
    """A decrypted secret. Use ``str(secret)`` or the value itself; repr is masked."""

    def __repr__(self) -> str:
        return f"Secret({mask(self)!r})"


def mask(value: str | None, *, visible: int = 4) -> str:
    """Masked form for display: never more than the last ``visible`` characters,
    and none of them for short values (a 6-character PIN stays fully hidden)."""
    if not value:
        return ""
    value = str(value)
    if len(value) < 12:
        return MASK
    return MASK + value[-visible:]


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("CHORUS_ENCRYPTION_KEYS must hold at least one Fernet key.")
    try:
        return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
    except ValueError as exc:  # malformed key: say which setting, never the key
        raise ImproperlyConfigured("CHORUS_ENCRYPTION_KEYS holds a malformed Fernet key.") from exc


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.CHORUS_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with CHORUS_ENCRYPTION_KEYS "
            "(was a key removed before `rotate_secrets` ran?)."
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt a stored token with the first (newest) key."""
    return fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text secret, stored as a Fernet token. Not searchable by design."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return Secret(decrypt(value))

    def to_python(self, value):
        if value is None or isinstance(value, Secret):
            return value
        return Secret(value)

    def get_prep_value(self, value):
        if value is None or value == "":
            return value
        return encrypt(str(value))

    def value_to_string(self, obj):
        # Serialisation (dumpdata) must not write secrets out in clear.
        return MASK


class EncryptedJSONField(models.TextField):
    """A dict of secrets (an API key and its secret, a password…) stored as one
    Fernet token of its JSON. Values come back as :class:`Secret`."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return {}
        return {k: Secret(v) if isinstance(v, str) else v for k, v in json.loads(decrypt(value)).items()}

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return json.loads(value)

    def get_prep_value(self, value):
        if not value:
            return encrypt("{}")
        return encrypt(json.dumps({k: str(v) if isinstance(v, Secret) else v for k, v in value.items()}))

    def value_to_string(self, obj):
        # Serialisation (dumpdata) must not write secrets out in clear.
        return MASK


ENCRYPTED_FIELD_TYPES = (EncryptedTextField, EncryptedJSONField)
