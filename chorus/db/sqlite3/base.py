"""Django's SQLite backend with bulk statements sized by the library's real limit.

Django 5.2's SQLite backend assumes every SQLite library was compiled with the old
default of 999 bound variables per statement (``DatabaseFeatures.max_query_params``),
so ``bulk_create`` and ``bulk_update`` split a page of 1,000 dialer calls into about
twenty statements per table. SQLite 3.32+ allows 32,766 by default, and the limit can
be read on the connection (``sqlite3.Connection.getlimit``, Python 3.11+). Django 6.0
reads it itself; until then this backend does, once per new connection, falling back
to 999 where it cannot be read. Nothing else differs.

The limit used is capped at ``MAX_QUERY_PARAMS`` (SQLite's own default), even where a
build allows more (Debian's allows 250,000): a bulk statement costs up to ~30 bytes of
SQL per variable (``bulk_update``'s ``WHEN ("table"."id" = ?) THEN ?``), so it stays
under the 1,000,000-byte statement limit of default builds (``SQLITE_LIMIT_SQL_LENGTH``,
also read), and a ``bulk_update`` CASE, whose arms each row scans in turn, stays a few
thousand rows long.

Selected by ``DATABASES["default"]["ENGINE"] = "chorus.db.sqlite3"``.
"""

from __future__ import annotations

import sqlite3

from django.db.backends.sqlite3 import base, features

FALLBACK_MAX_QUERY_PARAMS = 999  # SQLite's compile-time default before 3.32
MAX_QUERY_PARAMS = 32_766  # SQLite's compile-time default since 3.32
SQL_BYTES_PER_PARAM = 32  # the most SQL a bulk statement spends per bound variable


class DatabaseFeatures(features.DatabaseFeatures):
    @property
    def max_query_params(self) -> int:  # type: ignore[override]
        """The connection's own limit (it is read when the connection opens)."""
        self.connection.ensure_connection()
        return self.connection.sqlite_max_variables


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
    sqlite_max_variables = FALLBACK_MAX_QUERY_PARAMS

    def get_new_connection(self, conn_params):
        conn = super().get_new_connection(conn_params)
        self.sqlite_max_variables = variable_limit(conn)
        return conn


def variable_limit(conn) -> int:
    """Bound variables per bulk statement on ``conn``: its library's limit, capped (see
    the module's docstring); the old default where Python cannot read the limits."""
    try:
        variables = int(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        sql_bytes = int(conn.getlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH))
    except (AttributeError, sqlite3.Error):  # Python < 3.11, or a driver without getlimit
        return FALLBACK_MAX_QUERY_PARAMS
    cap = max(FALLBACK_MAX_QUERY_PARAMS, min(MAX_QUERY_PARAMS, sql_bytes // SQL_BYTES_PER_PARAM))
    return min(variables, cap)  # never more than the library takes
