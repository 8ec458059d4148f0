from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from chorus.secrets import ENCRYPTED_FIELD_TYPES, rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of CHORUS_ENCRYPTION_KEYS. "
        "Run after putting a new key first; then the old key can be removed."
    )

    def handle(self, **opts):
        total = 0
        qn = connection.ops.quote_name
        for model in apps.get_models():
            columns = [f.column for f in model._meta.concrete_fields if isinstance(f, ENCRYPTED_FIELD_TYPES)]
            if not columns:
                continue
            table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
            # Raw tokens in, raw tokens out: secrets are never decrypted into Python
            # objects that could end up in a log.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT {pk}, {', '.join(qn(c) for c in columns)} FROM {table}")  # noqa: S608 (quoted identifiers)
                rows = cursor.fetchall()
                for row_pk, *tokens in rows:
                    updates = [(c, rotate(t)) for c, t in zip(columns, tokens, strict=True) if t]
                    if updates:
                        sets = ", ".join(f"{qn(c)} = %s" for c, _ in updates)
                        cursor.execute(f"UPDATE {table} SET {sets} WHERE {pk} = %s",  # noqa: S608
                                       [t for _, t in updates] + [row_pk])
                        total += 1
            self.stdout.write(f"{model._meta.label}: {len(rows)} rows checked")
        self.stdout.write(f"Re-encrypted secrets on {total} rows.")
