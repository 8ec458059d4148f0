#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL and Redis of its own:
#
#   scripts/with-pg-redis.sh .venv/bin/python -m pytest
#
# Debian's PostgreSQL binaries (the newest of /usr/lib/postgresql/*/bin) and
# redis-server are started on 127.0.0.1 on two free ports, with their data, sockets
# and logs in a temporary directory owned by this run — no system service, no
# system cluster is used. The command runs with DATABASE_URL and REDIS_URL set; on
# exit (success, failure or Ctrl-C) both servers stop and the directory is removed.
set -euo pipefail

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || { echo "with-pg-redis: Debian's postgresql is not installed" >&2; exit 1; }
redis_server=$(command -v redis-server || true)
[ -n "$redis_server" ] || { echo "with-pg-redis: redis-server is not installed" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: $0 <command…>" >&2; exit 2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-pg-redis.XXXXXX")
pgdata="$tmp/pg"
pg_port=$(free_port)
redis_port=$(free_port)
while [ "$redis_port" = "$pg_port" ]; do redis_port=$(free_port); done

# PostgreSQL refuses to run as root: as root, the cluster belongs to `postgres`.
as_pg=()
if [ "$(id -u)" = 0 ]; then
  as_pg=(runuser -u postgres --)
  chown postgres: "$tmp"
  chmod 700 "$tmp"
fi

redis_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -f "$pgdata/postmaster.pid" ]; then
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${as_pg[@]}" "$pg_bin/initdb" -D "$pgdata" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
  >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; exit 1; }
# A throwaway cluster: no durability, generous connections for parallel workers.
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -l "$tmp/postgres.log" -w -t 60 start -o \
  "-h 127.0.0.1 -p $pg_port -k $tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  >/dev/null || { cat "$tmp/postgres.log" >&2; exit 1; }

"$redis_server" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
  --logfile "$tmp/redis.log" --databases 64 &
redis_pid=$!

psql=("${as_pg[@]}" "$pg_bin/psql" -h "$tmp" -p "$pg_port" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE ROLE chorus LOGIN PASSWORD 'chorus' CREATEDB"
"${psql[@]}" -c "CREATE DATABASE chorus OWNER chorus"

for _ in $(seq 100); do
  [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
  kill -0 "$redis_pid" 2>/dev/null || { cat "$tmp/redis.log" >&2; exit 1; }
  sleep 0.1
done
[ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ] || { echo "with-pg-redis: Redis did not start" >&2; exit 1; }

export DATABASE_URL="postgres://chorus:chorus@127.0.0.1:$pg_port/chorus"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
echo "with-pg-redis: PostgreSQL $(basename "$(dirname "$pg_bin")") on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port (in $tmp, removed on exit)"

"$@"
