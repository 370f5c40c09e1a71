"""Settings for the policy-exceptions portal, read from the environment.

Every variable is listed in the README. With nothing set, the portal runs
embedded: SQLite and Celery's filesystem broker under ``var/``. Setting
``DATABASE_URL`` and ``CELERY_BROKER_URL`` moves it to PostgreSQL and Redis
with no code change.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# environ.Env.bool() silently treats unknown words as False; a typo in
# DEBUG or a secure-cookie flag must stop the process instead.
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=str(default)).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.str(name, default=str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-local-development-key-not-for-production-use"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "simple_history",
    "axes",
    "csp",
    "crispy_forms",
    "crispy_bootstrap5",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "policies",
    "requests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "exceptions_portal.middleware.RejectBadInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in user's permissions kept per process under the rules version (two queries fewer a request).
    "policies.permissions.CachedPermissionsMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "exceptions_portal.middleware.BrowserTimezoneMiddleware",
    "exceptions_portal.middleware.SecurityHeadersMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "exceptions_portal.urls"
WSGI_APPLICATION = "exceptions_portal.wsgi.application"

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
                "exceptions_portal.context_processors.navigation",
                "requests.context_processors.notifications",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL is set.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker share one file: WAL lets readers
    # run beside the writer, IMMEDIATE takes the write lock at BEGIN so two
    # writers queue on the busy timeout instead of failing mid-transaction
    # with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's, with a health check that looks at the connection's socket instead of running SELECT 1.
        DATABASES["default"]["ENGINE"] = "exceptions_portal.postgresql"
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The statements written with parameters for PostgreSQL to plan once per connection (filing's one
    # statement, exceptions_portal.bulk.InsertChain; Django's own cursors never prepare). Off behind a pooler
    # that cannot keep protocol-level prepared statements (PgBouncer before 1.21, or without
    # max_prepared_statements, in transaction mode): DB_PREPARED_STATEMENTS=false.
    if env_bool("DB_PREPARED_STATEMENTS", True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds counters that must be the same for every process (gunicorn workers, Celery
# workers): the API throttle and the email decision's wrong-password lockout. Django's default,
# a local-memory cache per process, would give an attacker one count per process. So: a table in
# the database (shared on SQLite and PostgreSQL alike, created after every `migrate` by
# requests.apps), or Redis when CACHE_URL says so. Nothing hot reads it: the policy rules are
# memoised per process on purpose (policies.selectors).
CACHE_URL = env.str("CACHE_URL", default="")
if not CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "portal_cache",
            # Django's default of 300 would start dropping live counters (a third of the table) once
            # 300 callers were being counted at once; every write counts the rows, so not unbounded.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }
elif CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    # Not the value itself: a URL may carry a password.
    raise ImproperlyConfigured("CACHE_URL must be a redis:// or rediss:// URL (or unset, for the database)")


AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling (django-axes, exceptions_portal/throttle.py): the lockout check runs before
# the password check, so a locked-out pair gets the lockout page even with the right password.
AUTHENTICATION_BACKENDS = [
    "exceptions_portal.throttle.LoginThrottleBackend",
    # ModelBackend with the signed-in person's row kept per process under the rules version (one query fewer a
    # request). Sessions record this path: changing it signs everyone out, unless a migration moves them
    # (policies migration 0007 did, from ModelBackend).
    "policies.permissions.KeptUserBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The page says "wait N minutes": a retry during the lock does not restart the clock.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "exceptions_portal.throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "exceptions_portal.throttle.client_ip"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/London")
USE_I18N = True
# The portal's named date formats (|date:"DATE_TIME"): exceptions_portal/formatting.py.
FORMAT_MODULE_PATH = ["exceptions_portal.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Evidence attached to requests: a folder under VAR_DIR, or any S3-compatible store when a bucket is named
# (credentials from boto3's usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables).
ATTACHMENTS_S3_BUCKET = env.str("ATTACHMENTS_S3_BUCKET", default="")
if ATTACHMENTS_S3_BUCKET:
    STORAGES["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ATTACHMENTS_S3_BUCKET,
            "endpoint_url": env.str("ATTACHMENTS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("ATTACHMENTS_S3_REGION", default="") or None,
            "location": env.str("ATTACHMENTS_S3_PREFIX", default="attachments"),
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
else:
    STORAGES["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env.str("ATTACHMENTS_DIR", default=str(VAR_DIR / "attachments"))},
    }
ATTACHMENT_MAX_MB = env_int("ATTACHMENT_MAX_MB", 10, minimum=1)
ATTACHMENT_MAX_COUNT = env_int("ATTACHMENT_MAX_COUNT", 10, minimum=1)

# Tests run with DEBUG off but without collectstatic (STATIC_MANIFEST=false, WHITENOISE_USE_FINDERS=true).
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# The audit trail must not be rewritten from the portal.
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_ENFORCE_HISTORY_MODEL_PERMISSIONS = True

# Email: console by default, SMTP via EMAIL_URL.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
if DEBUG and not env.str("EMAIL_URL", default=""):
    # Development without EMAIL_URL: one line per email in the log, the full text in VAR_DIR/mail.log.
    EMAIL_BACKEND = "exceptions_portal.logs.SummaryEmailBackend"
# An SMTP call that hangs fails well inside the sending tasks' time limit (requests/notifications.py).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="exceptions-portal@localhost")

# Security: safe defaults whenever DEBUG is off (manage.py check --deploy).
# Only behind the operator's own TLS proxy may the portal believe X-Forwarded-Proto and
# X-Forwarded-For; reached directly, anyone could send them.
TRUST_PROXY_HEADERS = env_bool("TRUST_PROXY_HEADERS", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUST_PROXY_HEADERS else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 10, minimum=60)
# Django's database sessions, each read with one plain statement rather than a queryset (exceptions_portal/sessions.py),
# which also reads the rules version that the request reads next (policies/sessions.py).
SESSION_ENGINE = "policies.sessions"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts, styles and everything else from the portal's
# own origin only; no inline script or style (the portal's scripts are files under static/),
# no framing, forms post only back to the portal. img-src allows data: for Bootstrap's
# built-in SVG icons (checkboxes, selects). CSP_REPORT_ONLY=true sends the same policy as
# Content-Security-Policy-Report-Only, to try a change in production without breaking pages.
_CSP = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
if env_bool("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

# Celery: filesystem broker under var/ unless CELERY_BROKER_URL is set.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
# Redis (and SQS) redeliver a message that a killed worker took but never acknowledged only after
# the visibility timeout (kombu's default: an hour). It must stay above the longest task's hard
# time limit (the review sweep and the digest, 660 s), or a task still running would be delivered a
# second time; and
# no countdown or ETA may be longer (the only one is an email retry, at most 60 s). Emails do not
# wait for it: their claim expires and the resend job sends them within about two minutes.
BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 720, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast (control) messages; without it kombu writes ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 150, minimum=1)
CELERY_TIMEZONE = TIME_ZONE
# Autodiscovery finds each app's own tasks module; the insights' tasks live in a sub-package (their names,
# "policies.tasks.*", are pinned).
CELERY_IMPORTS = ("policies.insights.tasks",)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

SLA_SWEEP_SECONDS = env_int("SLA_SWEEP_SECONDS", 30, minimum=1)
SLA_REMINDER_PERCENT = env_int("SLA_REMINDER_PERCENT", 75, minimum=1)
SLA_SWEEP_BATCH_SIZE = env_int("SLA_SWEEP_BATCH_SIZE", 500, minimum=1)
# The longest out-of-office an approver may set, in days (first and last day included).
DELEGATION_MAX_DAYS = env_int("DELEGATION_MAX_DAYS", 60, minimum=1)

CELERY_BEAT_SCHEDULE = {
    "enforce-sla": {
        "task": "requests.tasks.enforce_sla",
        "schedule": float(SLA_SWEEP_SECONDS),
        # Expire before the next run, so a backlog of sweeps never stacks up behind a slow one.
        "options": {"expires": max(1.0, SLA_SWEEP_SECONDS * 0.9)},
    },
    "send-digests": {
        "task": "requests.tasks.send_digests",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "stand-ins-started": {
        "task": "requests.tasks.stand_ins_started",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    "resend-unsent-emails": {
        "task": "requests.tasks.resend_unsent_emails",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "nightly-review-sweep": {
        "task": "policies.tasks.nightly_review_sweep",
        "schedule": crontab(hour=2, minute=15),
        "options": {"expires": 3600},
    },
    "roll-up-requests": {
        "task": "requests.tasks.roll_up_requests",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "retry-webhooks": {
        "task": "requests.tasks.retry_webhook_deliveries",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "weekly-digest": {
        "task": "policies.tasks.weekly_digest",
        "schedule": crontab(day_of_week="mon", hour=7, minute=0),
        "options": {"expires": 6 * 3600},
    },
}

# The user the scheduled jobs act as in the audit trail.
SYSTEM_USERNAME = env.str("SYSTEM_USERNAME", default="system")
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")
# Approving from an email link above this amount asks for the approver's password again.
EMAIL_DECISION_STEP_UP_AMOUNT = Decimal(env_int("EMAIL_DECISION_STEP_UP_AMOUNT", 1000))

# The REST API (requests/api/) and its OpenAPI schema.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="120/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The token class first: an anonymous call gets 401 with WWW-Authenticate, not 403.
        "requests.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["requests.api.throttling.PerTokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": API_THROTTLE_RATE},
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "requests.api.problems.problem_exception_handler",
    # OPTIONS answers 405 like any undocumented method (the schema documents the API).
    "DEFAULT_METADATA_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Policy-exceptions portal API",
    "DESCRIPTION": (
        "File, preview, decide and follow policy exceptions from a helpdesk. Authenticate with "
        "`Authorization: Bearer <token>` (tokens are created on the portal's API tokens page). "
        "Errors are RFC 9457 problem+json documents with the portal's own messages."
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "requests.api.schema.add_links"],
    "ENUM_NAME_OVERRIDES": {},
}

# Webhooks (requests/webhooks.py).
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
WEBHOOK_DISABLE_AFTER_FAILURES = env_int("WEBHOOK_DISABLE_AFTER_FAILURES", 20, minimum=1)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# Receivers on private, loopback or link-local addresses are refused (SSRF) unless this is on.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"expected_client_errors": {"()": "exceptions_portal.logs.ExpectedClientErrors"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # A 403 or 404 is expected (a rep on the queue, another rep's request): its line, not its traceback.
    # django-axes logs every login at INFO; its warnings (failures, lockouts) are what matter.
    "loggers": {"django.request": {"filters": ["expected_client_errors"]}, "axes": {"level": "WARNING"}},
}
