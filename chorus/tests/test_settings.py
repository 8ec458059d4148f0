"""Every setting the code reads is declared in chorus/settings.py (through
django-environ where it differs between machines), so staging can set it from the
environment and nothing reads an undeclared name with a silent default."""

import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
APPS = ("chorus", "console", "crm", "dialers", "integrations", "sso")
READ = re.compile(r"\bsettings\.([A-Z][A-Z0-9_]+)\b")


def _code_files():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "tests" not in path.parts and "migrations" not in path.parts:
                yield path


def test_every_setting_the_code_reads_is_declared():
    read = {name: path for path in _code_files() for name in READ.findall(path.read_text())}
    undeclared = {name: str(path.relative_to(ROOT)) for name, path in read.items() if not hasattr(settings, name)}
    assert undeclared == {}


def test_no_code_reads_a_setting_with_a_fallback():
    offenders = [str(p.relative_to(ROOT)) for p in _code_files() if 'getattr(settings, "' in p.read_text()]
    assert offenders == []


def test_staging_switches_come_from_the_environment():
    script = ("import django; django.setup(); from django.conf import settings as s; "
              "print(s.DIALER_MEDIA_ALLOW_PRIVATE_HOSTS, s.CALENDAR_ICS_ALLOW_PRIVATE, s.SAML_METADATA_ALLOW_PRIVATE, "
              "s.DIALER_API_URLS)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chorus.settings", "DIALER_MEDIA_ALLOW_PRIVATE_HOSTS": "1",
           "CALENDAR_ICS_ALLOW_PRIVATE": "true", "SAML_METADATA_ALLOW_PRIVATE": "yes",
           "DIALER_API_URLS": '{"aircall": "https://aircall.staging.test/v1"}'}
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip().split(None, 3) == ["True", "True", "True", "{'aircall': 'https://aircall.staging.test/v1'}"]
