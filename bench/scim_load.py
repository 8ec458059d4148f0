"""SCIM load benchmark: an Okta-like request mix against gunicorn.

Builds a temporary SQLite database with one organisation per size (1,000 and
100,000 users by default, ``--sizes`` to change), starts gunicorn on a free loopback
port, and sends a bounded number of requests per organisation: filter by userName,
GET by id, PATCH, and POST of new users, as Okta's provisioning does. Prints one JSON
line per size and the latency ratio of the largest to the smallest size; the target
is a ratio ≤ 1.3, which holds only if every query is indexed and scoped to the
organisation in SQL.

    .venv/bin/python bench/scim_load.py                       # 1k and 100k users
    .venv/bin/python bench/scim_load.py --sizes 1000,10000 --requests 300
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import free_port, wait_ready  # bench/ is on sys.path when a bench runs

ROOT = Path(__file__).resolve().parent.parent
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# Okta's mix when assigning and updating people: look up, read, update, create.
MIX = (("filter", 40), ("get", 30), ("patch", 20), ("create", 10))


def setup_database(sizes: list[int]) -> dict[int, dict]:
    """Migrate the temporary database and seed one organisation per size."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from chorus import services
    from chorus.models import LicenseType, Organization, Role, User
    from sso.scim.provisioning import scim_provisioning_set
    from sso.tokens import scim_token_create

    call_command("migrate", verbosity=0, interactive=False)
    orgs: dict[int, dict] = {}
    for size in sizes:
        org = services.organization_create(slug=f"bench-{size}", name=f"Bench {size}", domains=[f"b{size}.example"])
        Organization.objects.filter(pk=org.pk).update(scim_provisioning_allowed=True)
        org.refresh_from_db()
        scim_provisioning_set(org=org, actor=None, enabled=True)
        role = Role.objects.for_org(org).get(name="Rep (AE/Other)")
        started = time.monotonic()
        batch = []
        for i in range(size):
            batch.append(User(org=org, email=f"user{i}@b{size}.example", first_name="User", last_name=str(i),
                              role=role, license_type=LicenseType.RECORDER, password="!", external_id=f"okta{i}"))
            if len(batch) == 5000:
                User.objects.bulk_create(batch)
                batch = []
        User.objects.bulk_create(batch)
        ids = list(User.objects.for_org(org).values_list("pk", flat=True))
        orgs[size] = {"token": scim_token_create(org=org)[1], "ids": ids, "domain": f"b{size}.example"}
        print(f"# seeded {size} users in {time.monotonic() - started:.1f}s", file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    return orgs


class Worker(threading.Thread):
    """One client connection sending its share of the mix, recording latencies."""

    def __init__(self, port: int, org: dict, count: int, seed: int, created: list):
        super().__init__(daemon=True)
        self.port, self.org, self.count = port, org, count
        self.rng = random.Random(seed)
        self.created = created
        self.latencies: list[float] = []
        self.errors = 0

    def call(self, conn, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.org['token']}", "Content-Type": "application/scim+json"}
        payload = json.dumps(body) if body is not None else None
        started = time.perf_counter()
        conn.request(method, "/api/scim/v2" + path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.latencies.append((time.perf_counter() - started) * 1000)
        if response.status >= 400:
            self.errors += 1
        return response.status, (json.loads(data) if data else {})

    def run(self) -> None:
        from urllib.parse import quote

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        ids, domain = self.org["ids"], self.org["domain"]
        kinds = [k for k, w in MIX for _ in range(w)]
        for n in range(self.count):
            kind = self.rng.choice(kinds)
            i = self.rng.randrange(len(ids))
            if kind == "filter":
                flt = quote(f'userName eq "USER{i}@{domain}"')
                self.call(conn, "GET", f"/Users?filter={flt}&startIndex=1&count=100")
            elif kind == "get":
                self.call(conn, "GET", f"/Users/{self.rng.choice(ids)}")
            elif kind == "patch":
                self.call(conn, "PATCH", f"/Users/{self.rng.choice(ids)}", {"schemas": [PATCH_OP], "Operations": [
                    {"op": "replace", "value": {"title": f"AE {n}", "active": True}}]})
            else:
                email = f"new-{self.name}-{n}-{self.rng.randrange(10**9)}@{domain}"
                status, doc = self.call(conn, "POST", "/Users", {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
                    "name": {"givenName": "New", "familyName": "Hire"}, "emails": [{"value": email, "primary": True}],
                    "chorus_role": "Rep (AE/Other)", "chorus_license_type": "recorder",
                })
                if status == 201:
                    self.created.append(doc["id"])
        conn.close()


def run_scenario(port: int, org: dict, requests: int, concurrency: int, warmup: int) -> dict:
    created: list = []
    Worker(port, org, warmup, seed=-1, created=created).run()  # warm caches and connections
    workers = [Worker(port, org, requests // concurrency, seed=s, created=created) for s in range(concurrency)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for w in workers for x in w.latencies)
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": sum(w.errors for w in workers),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(q[49], 2),
        "p95_ms": round(q[94], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000", help="users per organisation, comma-separated")
    parser.add_argument("--requests", type=int, default=600, help="measured requests per size")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--warmup", type=int, default=40)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())

    tmp = Path(tempfile.mkdtemp(prefix="scim-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chorus.settings",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "DEBUG": "False",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    proc = None
    try:
        orgs = setup_database(sizes)
        port = free_port()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        proc = subprocess.Popen(
            [str(gunicorn), "chorus.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
             "--log-level", "warning"],
            cwd=ROOT, env=env,
        )
        wait_ready(port, proc, "/api/scim/v2/ServiceProviderConfig",
                   headers={"Authorization": f"Bearer {orgs[sizes[0]]['token']}"}, timeout=60)
        results = {}
        for size in sizes:
            result = run_scenario(port, orgs[size], args.requests, args.concurrency, args.warmup)
            results[size] = result
            print(json.dumps({"bench": "scim_load", "users": size, **result}), flush=True)
        if len(sizes) > 1:
            small, large = results[sizes[0]], results[sizes[-1]]
            print(json.dumps({
                "bench": "scim_load", "ratio": f"{sizes[-1]}/{sizes[0]}",
                "p95_ratio": round(large["p95_ms"] / small["p95_ms"], 2),
                "p50_ratio": round(large["p50_ms"] / small["p50_ms"], 2),
                "target_p95_ratio": 1.3,
            }), flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
