"""Settings for the Chorus integrations monolith.

Everything that differs between a laptop, CI and production is read from the
environment (django-environ). The defaults give the embedded set-up: a SQLite file
and django-q2's ORM broker, so `make run` needs no other service.
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# A development key is fine on a laptop; production sets SECRET_KEY.
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-secret-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

CHORUS_BASE_URL = env("CHORUS_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). The
# default key is for development only: with CHORUS_REQUIRE_ENCRYPTION_KEYS set
# (production) the process refuses to start without real keys.
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktZW5jcnlwdGlvbi1rZXktMzJieXRlcyE="
CHORUS_ENCRYPTION_KEYS = env.list("CHORUS_ENCRYPTION_KEYS", default=[DEV_ENCRYPTION_KEY])
if env.bool("CHORUS_REQUIRE_ENCRYPTION_KEYS", default=False) and DEV_ENCRYPTION_KEY in CHORUS_ENCRYPTION_KEYS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("Set CHORUS_ENCRYPTION_KEYS to your own Fernet keys (the development key is refused).")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "chorus",
    "integrations",
    "integrations.conferencing",
    "integrations.storage",
    "integrations.processing",
    "integrations.streaming",
    "integrations.mail",
    "crm",
    "dialers",
    "sso",
    "slack",
    "gainsight",
    "api",
    "api.zapier",
    "console",
    "djangosaml2",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The SAML session cookie is SameSite=None so it survives the IdP's cross-site POST.
    "djangosaml2.middleware.SamlSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "chorus.urls"
WSGI_APPLICATION = "chorus.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.console",
            ],
        },
    },
]

DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Bulk statements sized by the SQLite library's own bound-variable limit instead
    # of Django 5.2's fixed 999 (chorus/db/sqlite3/base.py; Django 6.0 does this itself).
    DATABASES["default"]["ENGINE"] = "chorus.db.sqlite3"
    # Several processes (web + qcluster) share the file: wait for locks instead of
    # failing, and take the write lock at BEGIN so claims never deadlock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests use a file too (not shared-cache memory, which has table locks that
    # ignore the timeout), so concurrency tests see real SQLite locking.
    # One file per test process, so parallel runs never share (or delete) one.
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections (seconds; 0 = one per request), checked before reuse. With
# many web and worker processes, put a pooler (PgBouncer, transaction mode) in front.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "chorus.User"
AUTHENTICATION_BACKENDS = ["chorus.auth.EmailBackend"]  # SAML's backend is added in sso/saml/conf.py
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / ".staticfiles"
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=CHORUS_BASE_URL.startswith("https://"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# django-q2: the ORM broker by default, Redis when REDIS_URL is set. Any number of
# `qcluster` processes on any number of hosts may share either broker.
REDIS_URL = env("REDIS_URL", default="")
# Parallel test runs (pytest-xdist sets PYTEST_XDIST_WORKER=gw0, gw1, … in each worker
# before Django loads): workers share one Redis, so each gets a database of its own
# (gwN uses database N+1; the cache's clear() is FLUSHDB) and a cluster name of its
# own (django-q2's Redis queue is the list django_q:<name>:q). Idempotent, so a
# qcluster subprocess started by a test with this environment lands in the same place.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL and _XDIST_WORKER.startswith("gw"):
    from urllib.parse import urlsplit, urlunsplit

    _url = urlsplit(REDIS_URL)
    REDIS_URL = urlunsplit(_url._replace(path=f"/{int(_XDIST_WORKER[2:]) + 1}"))
Q_CLUSTER = {
    "name": f"chorus-{_XDIST_WORKER}" if _XDIST_WORKER else "chorus",
    "workers": env.int("Q_WORKERS", default=2),
    # Long enough for speech-to-text of a long call (processing hands over after
    # ~9 minutes of work per task; its lease, PROCESSING_LEASE_SECONDS, outlasts this).
    "timeout": 1200,
    "retry": 1500,
    "max_attempts": 1,
    "queue_limit": 50,
    "catch_up": False,
    "ack_failures": True,
}
# The cache holds the public API's per-token rate-limit counts: Redis when REDIS_URL
# is set, so every web process shares them; the embedded default counts per process.
CACHES = {"default": ({"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
                      if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"})}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["chorus.api_auth.PersonalTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # The public API (api/): one error shape, a rate limit per personal API token
    # (429 + Retry-After), an OpenAPI 3 schema at /api/v1/schema/.
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PersonalTokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": env("API_RATE_LIMIT", default="600/min")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chorus API",
    "DESCRIPTION": "The public REST API. Authenticate with a personal API token from Personal Settings: "
                   "`Authorization: Bearer <token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page is served with no internet: Swagger UI's assets come from the sidecar.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["api.schema.only_public_api"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"xmlschema": {"level": "WARNING"}, "saml2": {"level": "WARNING"}},
}

# Outbox (deliveries to other systems).
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
OUTBOX_BACKOFF_BASE_SECONDS = env.int("OUTBOX_BACKOFF_BASE_SECONDS", default=60)
OUTBOX_BACKOFF_MAX_SECONDS = env.int("OUTBOX_BACKOFF_MAX_SECONDS", default=6 * 3600)
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=300)

# Scheduled jobs fan out into one task per due org/connection (integrations/scheduler.py):
# a unit's lease (renewed while it runs; a killed worker's unit is due again once it
# passes), how long a queued task keeps a tick from queueing another for the same unit,
# and per-provider caps on queued-or-running units per job ("salesforce=8,hubspot=4";
# "outbox:slack=2" caps one job only; unset = no cap).
SCHEDULER_LEASE_SECONDS = env.int("SCHEDULER_LEASE_SECONDS", default=90)
SCHEDULER_QUEUED_SECONDS = env.int("SCHEDULER_QUEUED_SECONDS", default=300)
SCHEDULER_PROVIDER_CAPS = {k.strip(): int(v) for k, _, v in (
    item.partition("=") for item in env("SCHEDULER_PROVIDER_CAPS", default="").split(",") if item.strip())}

# Conversation processing (transcript, trackers, next steps, verdict, brief): a
# stage between "imported" and "ready", run by the workers. The engines are
# OpenAI-compatible HTTP services when their URL is set (a self-hosted Whisper
# server speaks /v1/audio/transcriptions; any chat model /v1/chat/completions);
# unset, the offline defaults run: pocketsphinx (its English model ships in its
# wheel) and the extractive brief writer.
TRANSCRIPTION_API_URL = env("TRANSCRIPTION_API_URL", default="").rstrip("/")
TRANSCRIPTION_API_KEY = env("TRANSCRIPTION_API_KEY", default="")
TRANSCRIPTION_MODEL = env("TRANSCRIPTION_MODEL", default="whisper-1")
TRANSCRIPTION_TIMEOUT = env.float("TRANSCRIPTION_TIMEOUT", default=600.0)
BRIEF_API_URL = env("BRIEF_API_URL", default="").rstrip("/")
BRIEF_API_KEY = env("BRIEF_API_KEY", default="")
BRIEF_MODEL = env("BRIEF_MODEL", default="gpt-4o-mini")
BRIEF_TIMEOUT = env.float("BRIEF_TIMEOUT", default=120.0)
PROCESSING_MAX_ATTEMPTS = env.int("PROCESSING_MAX_ATTEMPTS", default=5)
PROCESSING_BACKOFF_BASE_SECONDS = env.int("PROCESSING_BACKOFF_BASE_SECONDS", default=60)
PROCESSING_LEASE_SECONDS = env.int("PROCESSING_LEASE_SECONDS", default=3600)
# How many workers one organisation's processing may use at once (a big import does not
# hold up the other organisations' calls).
PROCESSING_WORKERS_PER_ORG = env.int("PROCESSING_WORKERS_PER_ORG", default=2)

# Outgoing email (the recording-ready notification): a django-environ email URL,
# e.g. smtp+tls://user:password@smtp.example.com:587. Unset, messages go to the
# console backend (the process log), so nothing needs a mail server to run.
EMAIL_URL = env("EMAIL_URL", default="consolemail://")
globals().update({k: v for k, v in env.email_url_config(EMAIL_URL).items() if v is not None})

# Email is unique per organisation (SCIM uniqueness is per tenant); the
# EmailBackend handles several accounts sharing one address.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

# Third parties: app credentials and base URLs, defaulting to the real services so
# staging and tests can point them at local servers (HTTPS ones trusted through
# REQUESTS_CA_BUNDLE). Every outbound client reads these.
REQUESTS_CA_BUNDLE = env("REQUESTS_CA_BUNDLE", default="") or None
SALESFORCE_LOGIN_URL = env("SALESFORCE_LOGIN_URL", default="https://login.salesforce.com").rstrip("/")
SALESFORCE_CLIENT_ID = env("SALESFORCE_CLIENT_ID", default="")
SALESFORCE_CLIENT_SECRET = env("SALESFORCE_CLIENT_SECRET", default="")
HUBSPOT_AUTH_URL = env("HUBSPOT_AUTH_URL", default="https://app.hubspot.com").rstrip("/")
HUBSPOT_API_URL = env("HUBSPOT_API_URL", default="https://api.hubapi.com").rstrip("/")
HUBSPOT_CLIENT_ID = env("HUBSPOT_CLIENT_ID", default="")
HUBSPOT_CLIENT_SECRET = env("HUBSPOT_CLIENT_SECRET", default="")
MICROSOFT_AUTHORITY_URL = env("MICROSOFT_AUTHORITY_URL", default="https://login.microsoftonline.com").rstrip("/")
MICROSOFT_CLIENT_ID = env("MICROSOFT_CLIENT_ID", default="")
MICROSOFT_CLIENT_SECRET = env("MICROSOFT_CLIENT_SECRET", default="")
DYNAMICS_ALLOWED_HOSTS = env.list("DYNAMICS_ALLOWED_HOSTS", default=["*.dynamics.com"])
GOOGLE_OAUTH_URL = env("GOOGLE_OAUTH_URL", default="https://accounts.google.com").rstrip("/")
GOOGLE_API_URL = env("GOOGLE_API_URL", default="https://www.googleapis.com").rstrip("/")
GOOGLE_CLIENT_ID = env("GOOGLE_CLIENT_ID", default="")
GOOGLE_CLIENT_SECRET = env("GOOGLE_CLIENT_SECRET", default="")
ZOOM_OAUTH_URL = env("ZOOM_OAUTH_URL", default="https://zoom.us").rstrip("/")
ZOOM_API_URL = env("ZOOM_API_URL", default="https://api.zoom.us/v2").rstrip("/")
ZOOM_CLIENT_ID = env("ZOOM_CLIENT_ID", default="")
ZOOM_CLIENT_SECRET = env("ZOOM_CLIENT_SECRET", default="")
ZOOM_WEBHOOK_SECRET_TOKEN = env("ZOOM_WEBHOOK_SECRET_TOKEN", default="")
NOTETAKER_API_URL = env("NOTETAKER_API_URL", default="")
NOTETAKER_API_KEY = env("NOTETAKER_API_KEY", default="")
# The bot backend signs its webhooks with this secret (HMAC-SHA256).
NOTETAKER_WEBHOOK_SECRET = env("NOTETAKER_WEBHOOK_SECRET", default="")
# The public rtmp:// URL Zoom streams meetings to (the nginx RTMP ingest).
STREAM_INGEST_URL = env("STREAM_INGEST_URL", default="rtmp://127.0.0.1:1935/live").rstrip("/")
# Zoom Streaming: how long a stream key Chorus issued may first publish; where the RTMP
# ingest writes its recordings (shared with the web server; empty = MEDIA_ROOT/streams);
# the secret in the ingest's callback URLs (empty = derived from SECRET_KEY).
STREAM_KEY_TTL_SECONDS = env.int("STREAM_KEY_TTL_SECONDS", default=24 * 3600)
STREAM_RECORD_DIR = env("STREAM_RECORD_DIR", default="")
STREAM_CALLBACK_SECRET = env("STREAM_CALLBACK_SECRET", default="")
SLACK_OAUTH_URL = env("SLACK_OAUTH_URL", default="https://slack.com").rstrip("/")
SLACK_API_URL = env("SLACK_API_URL", default="https://slack.com/api/")
SLACK_CLIENT_ID = env("SLACK_CLIENT_ID", default="")
SLACK_CLIENT_SECRET = env("SLACK_CLIENT_SECRET", default="")
SLACK_SIGNING_SECRET = env("SLACK_SIGNING_SECRET", default="")
GAINSIGHT_URL_TEMPLATE = env("GAINSIGHT_URL_TEMPLATE", default="https://{domain}.gainsightcloud.com")
# The origin allowed to frame Momentum by Chorus (Clari's app), e.g. https://app.clari.com.
CLARI_FRAME_ORIGIN = env("CLARI_FRAME_ORIGIN", default="https://app.clari.com").rstrip("/")
# The consumer secret of the Salesforce package's canvas app (the Chorus view on Lead,
# Account and Opportunity pages) that signs its signed requests; unset = the canvas
# view answers 503 and says so.
SALESFORCE_CANVAS_SECRET = env("SALESFORCE_CANVAS_SECRET", default="")
# How old a canvas signed request may be (its issuedAt) before it is refused as a replay.
SALESFORCE_CANVAS_MAX_AGE_SECONDS = env.int("SALESFORCE_CANVAS_MAX_AGE_SECONDS", default=7200)
# Who may frame the Outreach tile (space-separated CSP sources; Outreach's host
# requirements ask for frame-ancestors 'self' *.outreach.io).
OUTREACH_FRAME_ANCESTORS = env("OUTREACH_FRAME_ANCESTORS", default="https://*.outreach.io")
MICROSOFT_GRAPH_URL = env("MICROSOFT_GRAPH_URL", default="https://graph.microsoft.com/v1.0").rstrip("/")

# Fetching what admins and users typed (SAML metadata, ICS feeds, dialer media) is
# refused for private addresses (SSRF) unless these are set (staging, tests).
SAML_METADATA_ALLOW_PRIVATE = env.bool("SAML_METADATA_ALLOW_PRIVATE", default=False)
CALENDAR_ICS_ALLOW_PRIVATE = env.bool("CALENDAR_ICS_ALLOW_PRIVATE", default=False)
DIALER_MEDIA_ALLOW_PRIVATE_HOSTS = env.bool("DIALER_MEDIA_ALLOW_PRIVATE_HOSTS", default=False)
ZAPIER_HOOKS_ALLOW_PRIVATE = env.bool("ZAPIER_HOOKS_ALLOW_PRIVATE", default=False)  # Zap target URLs

# Recordings: size caps (bytes) and the dialer import's download settings.
ZOOM_RECORDING_MAX_BYTES = env.int("ZOOM_RECORDING_MAX_BYTES", default=4 * 1024**3)
NOTETAKER_RECORDING_MAX_BYTES = env.int("NOTETAKER_RECORDING_MAX_BYTES", default=4 * 1024**3)
DIALER_MEDIA_MAX_BYTES = env.int("DIALER_MEDIA_MAX_BYTES", default=500 * 1024**2)
DIALER_MEDIA_CONCURRENCY = env.int("DIALER_MEDIA_CONCURRENCY", default=8)
DIALER_MEDIA_TIMEOUT = (env.float("DIALER_MEDIA_CONNECT_TIMEOUT", default=5.0),
                        env.float("DIALER_MEDIA_READ_TIMEOUT", default=30.0))
# Dialers whose calls come from an S3 bucket (an S3-compatible endpoint for staging).
DIALER_S3_ENDPOINT_URL = env("DIALER_S3_ENDPOINT_URL", default="")
DIALER_S3_REGION = env("DIALER_S3_REGION", default="us-east-1")
# Dialer API base URLs by dialer key (JSON), overriding the catalogue's, e.g.
# {"aircall": "https://staging.example/v1"}.
DIALER_API_URLS = env.json("DIALER_API_URLS", default={})

# SSO settings live beside their code (plain settings modules, no Django imports).
from sso.saml.conf import *  # noqa: E402,F403
from sso.scim.conf import *  # noqa: E402,F403

AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, *SAML_AUTHENTICATION_BACKENDS]  # noqa: F405
