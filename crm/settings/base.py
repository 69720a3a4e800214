"""Settings shared by every environment.

Every value that varies between machines is read from the environment here, in one
place, with a safe local default. The other settings modules import this one and
only override.
"""

import os
from pathlib import Path

import dj_database_url
import jinja2
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("CRM_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = env(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number") from exc


SECRET_KEY = env("SECRET_KEY", "local-dev-only-not-secret-" + "x" * 40)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "phonenumber_field",
    "crm",
    "leads",
    "telephony",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "crm.audit_context.AuditContextMiddleware",
    "crm.middleware.IdleLogoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
AUTH_USER_MODEL = "crm.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"

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
                "crm.context_processors.workspace",
            ],
        },
    },
    # The few fragments re-rendered every few seconds for every counselor (the
    # queue's rows) are Jinja2 templates: it renders them four times faster. Each
    # is named `*.jinja.html` and rendered with `using="jinja2"`; an undefined
    # name is an error, never a blank cell.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"undefined": jinja2.StrictUndefined},
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file locally: WAL lets readers run
    # beside the writer, IMMEDIATE takes the write lock up front so concurrent
    # transactions wait for each other instead of failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # SQLite creates the file but not its folder (a fresh clone has no var/ yet).
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, broker ------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # The broker shares this Redis database: never cache.clear() (FLUSHDB).
            "KEY_PREFIX": "crm",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "crm",
        }
    }

# Without Redis, Celery uses kombu's filesystem transport under var/ so that
# `make run` needs nothing but Python.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": 3600}
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fix-up closes the database connection around every task, so each
# text paid a new PostgreSQL connection (measured: 96 -> 181 texts/s with reuse).
# crm/celery.py still closes connections that are broken or older than
# CONN_MAX_AGE, as Django does between requests.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Periodic work is declared in code, next to the tasks, by each app's issue.
CELERY_BEAT_SCHEDULE: dict = {
    "sms-outbox-sweep": {
        "task": "notifications.tasks.outbox_sweep",
        "schedule": env_int("SMS_SWEEP_EVERY_SECONDS", 15),
    },
    "callbacks-dispatch": {
        "task": "leads.tasks.callbacks_dispatch",
        "schedule": env_int("CALLBACK_DISPATCH_EVERY_SECONDS", 15),
    },
    "sla-sweep": {
        "task": "leads.tasks.sla_sweep",
        "schedule": env_int("SLA_SWEEP_EVERY_SECONDS", 20),
    },
    "cadence-close-unreachable": {
        "task": "leads.tasks.cadence_close_unreachable",
        "schedule": 300,
    },
    "calls-close-stale": {
        "task": "telephony.tasks.calls_close_stale",
        "schedule": 120,
    },
    "intake-receipts-purge": {
        "task": "leads.tasks.intake_receipts_purge",
        "schedule": 6 * 60 * 60,
    },
}

# --- Auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 60 * 60)
SESSION_COOKIE_HTTPONLY = True
# Signed-in staff are signed out after this long without doing anything: a screen
# left open in a call center shows health information to whoever walks by.
SESSION_IDLE_TIMEOUT_MINUTES = env_int("SESSION_IDLE_TIMEOUT_MINUTES", 15)
SESSION_COOKIE_SAMESITE = "Lax"

# --- I18N ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "America/New_York")
USE_I18N = True
USE_TZ = True
PHONENUMBER_DEFAULT_REGION = "US"
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "E164"

# --- Static -------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.StandardPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crm.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"token": env("TOKEN_THROTTLE_RATE", "10/minute")},
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Admissions CRM API",
    "DESCRIPTION": (
        "Leads, pipeline and timeline of an addiction-treatment admissions call "
        "center. Every read and change of a lead is written to the audit trail."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "leads.models.Stage",
        "LostReasonEnum": "leads.models.LostReason",
        "LevelOfCareEnum": "leads.models.LevelOfCare",
        "YesNoUnknownEnum": "leads.models.YesNoUnknown",
        "LeadSourceKindEnum": "leads.models.LeadSource.Kind",
        "ActivityKindEnum": "leads.models.Activity.Kind",
        "CallDispositionEnum": "leads.models.CallDisposition",
        "CallBackStatusEnum": "leads.models.CallBack.Status",
        "CallBackReasonEnum": "leads.models.CallBack.Reason",
        "MessageKindEnum": "notifications.models.Message.Kind",
        "MessageStatusEnum": "notifications.models.Message.Status",
        "MessageDirectionEnum": "notifications.models.Message.Direction",
        "BlockedReasonEnum": "notifications.models.Message.BlockedReason",
        "ConsentKindEnum": "notifications.models.ConsentEvent.Kind",
        "ConsentSourceEnum": "notifications.models.ConsentEvent.Source",
        "AlertKindEnum": "notifications.models.AlertPreference.Kind",
    },
}

# --- Privacy ------------------------------------------------------------------
# Fernet keys (url-safe base64, 32 bytes); several, comma-separated, rotate keys:
# the first encrypts, all decrypt.
FIELD_ENCRYPTION_KEY = env(
    "FIELD_ENCRYPTION_KEY", "bG9jYWwtZGV2LW9ubHktZmllbGQta2V5LTMyYnl0ZXM="
)

# --- Twilio and SMS -------------------------------------------------------------
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", "")
# Send every Twilio REST request to this base URL instead (a local fake of Twilio).
TWILIO_API_BASE_URL = env("TWILIO_API_BASE_URL", "")
TWILIO_HTTP_TIMEOUT = env_int("TWILIO_HTTP_TIMEOUT", 10)
# A Messaging Service (number pool, opt-out handling) wins over a single number.
TWILIO_MESSAGING_SERVICE_SID = env("TWILIO_MESSAGING_SERVICE_SID", "")
SMS_FROM_NUMBER = env("SMS_FROM_NUMBER", "+18885550100")
# twilio (the real client), console (logs, marks delivered) or locmem (tests).
SMS_BACKEND = env("SMS_BACKEND", "console")
# Who the texts come from, for the first-message disclosure and HELP answers.
SMS_BRAND_NAME = env("SMS_BRAND_NAME", "Admissions Team")
SMS_HELP_PHONE = env("SMS_HELP_PHONE", "(888) 555-0100")
# Outbox timing: a pending row not handed to a worker after this long is enqueued
# again; a row stuck in "sending" this long has an unknown outcome.
SMS_REQUEUE_AFTER_SECONDS = env_int("SMS_REQUEUE_AFTER_SECONDS", 60)
SMS_SENDING_STUCK_AFTER_SECONDS = env_int("SMS_SENDING_STUCK_AFTER_SECONDS", 300)
SMS_MAX_ATTEMPTS = env_int("SMS_MAX_ATTEMPTS", 5)
VOICE_BACKEND = env("VOICE_BACKEND", "console")
# The number leads see when a counselor calls them from the CRM.
VOICE_CALLER_ID = env("VOICE_CALLER_ID", SMS_FROM_NUMBER)

# --- Intake and follow-up -------------------------------------------------------
# Posts allowed per minute to the intake endpoints, per source key and per client
# address (a site's server posts from one address; browsers each from their own).
INTAKE_RATE_PER_KEY = env_int("INTAKE_RATE_PER_KEY", 600)
INTAKE_RATE_PER_IP = env_int("INTAKE_RATE_PER_IP", 60)
INTAKE_MAX_BODY_BYTES = 64 * 1024
# A due call-back left undone this long is marked missed (it stays in the queue).
CALLBACK_MISSED_AFTER_MINUTES = env_int("CALLBACK_MISSED_AFTER_MINUTES", 60)

# --- Electronic eligibility (X12 270/271) ----------------------------------------
# Where 270 inquiries go: a dotted path, or "file" / "locmem". The file backend
# writes <trace>.270 into the outbox and reads <trace>.271 from the "inbox" folder
# beside it (a clearinghouse's SFTP sync moves them). Both hold PHI.
CLEARINGHOUSE_BACKEND = env(
    "CLEARINGHOUSE_BACKEND", "leads.admissions.clearinghouse.FileOutboxBackend"
)
CLEARINGHOUSE_OUTBOX_DIR = Path(
    env("CLEARINGHOUSE_OUTBOX_DIR", str(VAR_DIR / "clearinghouse" / "outbox"))
)
# The ISA sender and receiver ids the clearinghouse assigned; "T" marks test
# interchanges until the clearinghouse has certified the connection ("P").
CLEARINGHOUSE_SENDER_ID = env("CLEARINGHOUSE_SENDER_ID", "ADMISSIONSCRM")
CLEARINGHOUSE_RECEIVER_ID = env("CLEARINGHOUSE_RECEIVER_ID", "CLEARINGHOUSE")
CLEARINGHOUSE_USAGE_INDICATOR = env("CLEARINGHOUSE_USAGE_INDICATOR", "T")
# The provider the payer answers for. The default NPI is CMS's worked example of
# the check digit, not a real provider's.
ELIGIBILITY_PROVIDER_NAME = env("ELIGIBILITY_PROVIDER_NAME", "Example Recovery Center")
ELIGIBILITY_PROVIDER_NPI = env("ELIGIBILITY_PROVIDER_NPI", "1234567893")

# --- Logging ------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The twilio client logs every request's headers at INFO: eight lines a text.
        "twilio.http_client": {"level": "WARNING"},
    },
}
