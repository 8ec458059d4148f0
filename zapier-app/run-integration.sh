#!/usr/bin/env bash
# The Chorus Zapier app against a real, throwaway Chorus, end to end:
#   a temporary SQLite database, an Enterprise org with API access, a user, a personal
#   API token and one meeting with a brief; the dev server on a free port; `npm test`
#   with CHORUS_BASE_URL / CHORUS_API_TOKEN set (so test/integration.test.js runs);
#   then the server is stopped and the database removed.
#
# Usage: zapier-app/run-integration.sh   (from anywhere; needs the repo's .venv and
# `npm install` done in zapier-app/). Env: PYTHON (default <repo>/.venv/bin/python).
# Touches neither db.sqlite3 nor anything else in the repo.
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$APP_DIR/.." && pwd)"
PYTHON="${PYTHON:-$REPO_DIR/.venv/bin/python}"

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/chorus-zapier-it.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT INT TERM

PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE_URL="http://127.0.0.1:$PORT"

export DATABASE_URL="sqlite:///$WORK_DIR/chorus.sqlite3"
export CHORUS_BASE_URL="$BASE_URL"
export ZAPIER_HOOKS_ALLOW_PRIVATE=1   # no DNS look-up of the test target URL

cd "$REPO_DIR"
echo "== migrate ($DATABASE_URL)"
"$PYTHON" manage.py migrate -v 0
"$PYTHON" manage.py create_org acme --name Acme --domain acme.example --package enterprise --api-access >/dev/null
"$PYTHON" manage.py create_user acme ann@acme.example --role Admin --license recorder --password x \
  --first-name Ann --last-name Example >/dev/null

echo "== token and a briefed meeting"
TOKEN="$("$PYTHON" manage.py shell -c '
from datetime import timedelta
from django.utils import timezone
from chorus import services
from chorus.models import Engagement, User
user = User.objects.get(email="ann@acme.example")
now = timezone.now()
Engagement.objects.create(org=user.org, owner=user, kind=Engagement.Kind.RECORDING, source="zapier-it",
    title="Acme <> Initech: Renewal", started_at=now - timedelta(hours=1), duration_seconds=1800,
    summary="Initech wants the renewal signed by March.",
    action_items=[{"text": "Send the updated pricing", "speaker": "Ann Example"}, "Share the DPA"])
Engagement.objects.create(org=user.org, owner=user, kind=Engagement.Kind.RECORDING, source="zapier-it",
    title="Quick sync", started_at=now, duration_seconds=300,
    summary="Too short for a brief.", action_items=["Never shown"])
_, raw = services.api_token_create(user=user, name="Zapier integration test")
print(raw)
' | tail -n 1)"

echo "== server on $BASE_URL"
"$PYTHON" manage.py runserver "127.0.0.1:$PORT" --noreload >"$WORK_DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE_URL/api/v1/zapier/me/" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server did not start:" >&2; cat "$WORK_DIR/server.log" >&2; exit 1
  fi
  sleep 0.2
done

echo "== npm test"
cd "$APP_DIR"
status=0
CHORUS_API_TOKEN="$TOKEN" CHORUS_IT_EXPECT_ITEMS=1 npm test || status=$?
if [ "$status" -ne 0 ]; then
  echo "== server log" >&2; tail -n 50 "$WORK_DIR/server.log" >&2
fi
exit "$status"
