"""Settings, all read from the environment.

Defaults give a one-command start on SQLite with a broker that needs no
server; ``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch to PostgreSQL and
Redis. Production (``DEBUG=0``) refuses to start without a real
``SECRET_KEY``.
"""

import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from abm_site.email_url import EmailUrlError, parse_email_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)
_DEV_SECRET = "django-insecure-dev-only-key-change-me"  # noqa: S105 - dev default, refused below
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random string of at least 50 characters when DEBUG=0."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "abm_site",
    "accounts",
    "events",
    "engagement",
    "funnel",
    "ingest",
    "reports",
    "activation",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "abm_site.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "abm_site.urls"
WSGI_APPLICATION = "abm_site.wsgi.application"
AUTH_USER_MODEL = "abm_site.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "reports:dashboard"
LOGOUT_REDIRECT_URL = "login"

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
                "abm_site.context_processors.site",
                "reports.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'abm.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and immediate transactions let web, worker and beat share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    # JIT compilation costs more than it saves on the reports' many short correlated queries.
    # The KPI engine sorts each account's touches for its window functions: 32 MB keeps
    # those sorts in memory (the 4 MB default spills them to disk) for a few connections.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "options", "-c jit=off -c work_mem=32MB"
    )
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DATABASES["default"].setdefault("TEST", {})
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"]["NAME"] = env.str("TEST_DATABASE_NAME")
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, like the app's own database: Django's default in-memory test database
    # shares one cache between connections, where a second writer fails at once with
    # "database table is locked" instead of waiting its turn as the timeout above says.
    DATABASES["default"]["TEST"]["NAME"] = str(VAR_DIR / f"test-{os.getpid()}.sqlite3")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = False

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Security (production mode) ---------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_ABSOLUTE_TIMEOUT", default=7 * 24 * 3600)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- REST framework ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "abm_site.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["abm_site.permissions.RolePermission"],
    "DEFAULT_PARSER_CLASSES": [
        "abm_site.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "abm_site.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ABM funnel analytics API",
    "DESCRIPTION": "Accounts, engagement, opportunities and the ABM funnel KPIs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc served from our own static files: no CDN, works offline and
    # under the 'self'-only Content-Security-Policy.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation's error responses and the error bodies (abm_site/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "abm_site.schema.error_responses_hook",
    ],
}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND",
    default=(
        CELERY_BROKER_URL
        if CELERY_BROKER_URL.startswith("redis")
        else f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}"
    ),
)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# On a lost broker connection, stop late-acknowledged tasks: they are redelivered anyway and
# every task here is idempotent (Celery 6's default).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=3300)
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis: an unacknowledged task (its worker died) is delivered again after this many seconds.
_visibility_timeout = env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _visibility_timeout,
    # kombu looks for such tasks only every 10 s x 10 calls by default, so a dead worker's
    # task came back up to 100 s after its timeout: look every 10 s (a third of a short
    # timeout), one small Redis query each time.
    "unacked_restore_interval": max(1, min(10, _visibility_timeout // 3)),
    "unacked_restore_throttle": 1,
}
# Seconds /healthz reuses its broker check (one broker connection per process per TTL).
ABM_HEALTH_CACHE_SECONDS = env.float("ABM_HEALTH_CACHE_SECONDS", default=5)
ABM_HEALTH_CHECKS = {"nightly_recompute": "funnel.selectors.recompute_health"}
ABM_RECOMPUTE_CHUNK_SIZE = env.int("ABM_RECOMPUTE_CHUNK_SIZE", default=5000)
ABM_RECOMPUTE_RESUME_AFTER = env.int("ABM_RECOMPUTE_RESUME_AFTER", default=900)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
ABM_NIGHTLY_HOUR = env.int("ABM_NIGHTLY_HOUR", default=2)
CELERY_BEAT_SCHEDULE = {
    "funnel-recompute-nightly": {
        "task": "funnel.recompute_nightly",
        "schedule": crontab(hour=ABM_NIGHTLY_HOUR, minute=15),
        "options": {"expires": 6 * 3600},
    },
    "funnel-recompute-resume": {
        "task": "funnel.recompute_resume",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    "funnel-recompute-marked": {
        "task": "funnel.recompute_marked",
        "schedule": crontab(minute="*/10"),
        "options": {"expires": 9 * 60},
    },
    # Idempotency keys of API creates are kept 24 hours.
    "abm-site-idempotency-keys-purge": {
        "task": "abm_site.idempotency_keys_purge",
        "schedule": crontab(minute=41),
        "options": {"expires": 50 * 60},
    },
    # Plans webhook deliveries of new events and sends them (issue 17).
    "activation-webhooks-dispatch": {
        "task": "activation.webhooks_dispatch",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # The daily digest of people's alert subscriptions (issue 17).
    "activation-alerts-digest": {
        "task": "activation.alerts_digest",
        "schedule": crontab(hour=env.int("ABM_ALERT_DIGEST_HOUR", default=7), minute=0),
        "options": {"expires": 6 * 3600},
    },
    # Scheduled e-mail reports: schedules live in the database (reports.ReportSchedule),
    # this one entry sends those due (no django-celery-beat: nothing more to run or migrate).
    "reports-schedules-send": {
        "task": "reports.schedules_send",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Recomputes the cached KPI results of the preset periods after a data change. The
    # cache is PostgreSQL's only: on SQLite the task would log a skip every minute.
    CELERY_BEAT_SCHEDULE["reports-warm-kpi-cache"] = {
        "task": "reports.warm_kpi_cache",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    }

# --- Product settings -------------------------------------------------------
ABM_CURRENCY = env.str("ABM_CURRENCY", default="USD")
# Months a won deal's contract runs when the import has no contract end or term.
ABM_DEFAULT_TERM_MONTHS = env.int("ABM_DEFAULT_TERM_MONTHS", default=12)
ABM_SNAPSHOT_WINDOW_DAYS = env.int("ABM_SNAPSHOT_WINDOW_DAYS", default=90)
# Seconds a computed KPI result stays in the cache (PostgreSQL only; 0 turns it off).
# Results are keyed by the data version, which every write to KPI input changes.
ABM_KPI_CACHE_SECONDS = env.int("ABM_KPI_CACHE_SECONDS", default=3600)
# Reuse a source's compiled statement for another period of the same computation shape,
# where its parameters are proven functions of the dates (funnel.kpis.statements).
ABM_KPI_STATEMENT_REUSE = env.bool("ABM_KPI_STATEMENT_REUSE", default=True)
# Report reads (pages, KPI API, exports) are cancelled past this (PostgreSQL; all of one
# request's queries together), with a 503 that says to narrow the request, before
# gunicorn's WEB_TIMEOUT (30 s; docker-compose.yml gives both the same) kills the worker.
WEB_TIMEOUT = env.int("WEB_TIMEOUT", default=30)
ABM_REPORT_TIMEOUT_SECONDS = env.float(
    "ABM_REPORT_TIMEOUT_SECONDS", default=max(WEB_TIMEOUT - 5, WEB_TIMEOUT * 0.8)
)
# A touch dated before this year or further ahead than this is rejected as implausible
# (a typo, or a default value such as 0001-01-01 or 9999-12-31).
ABM_EARLIEST_EVENT_YEAR = env.int("ABM_EARLIEST_EVENT_YEAR", default=1970)
ABM_MAX_FUTURE_EVENT_DAYS = env.int("ABM_MAX_FUTURE_EVENT_DAYS", default=366)
# Stage changes, surges and spikes older than this many days when the recompute first sees
# them (a backfill over history) are recorded without an event (issue 17).
ABM_EVENTS_RECENT_DAYS = env.int("ABM_EVENTS_RECENT_DAYS", default=7)
ABM_SCORES = {
    # Relationship score: two-way contact over a trailing window, decayed.
    "relationship_window_days": 90,
    "relationship_half_life_days": 30,
    "relationship_weights": {
        "email_sent": 1.0,
        "email_reply": 3.0,
        "meeting": 8.0,
        "call_connected": 5.0,
    },
    # Decayed weighted points that map to a score of 100 (capped).
    "relationship_full_scale": 60.0,
    "relationship_change_points": 5,
    "relationship_change_days": 30,
    # Engagement score: weighted engagement touches over a trailing window.
    "engagement_window_days": 90,
    "engagement_default_weight": 1.0,
    "engagement_weights": {
        "ad_click": 2.0,
        "web_visit": 1.0,
        "high_value_page_visit": 5.0,
        "chat_conversation": 5.0,
        "email_open": 0.5,
        "email_click": 2.0,
        "email_reply": 5.0,
        "form_fill": 8.0,
        "content_download": 4.0,
        "meeting": 10.0,
        "call_connected": 6.0,
        "event_attended": 8.0,
        "social_interaction": 1.0,
        "referral": 10.0,
    },
    # Research grade ("peppers"): last 7 days against the 8 weeks before.
    "research_recent_days": 7,
    "research_baseline_weeks": 8,
    "research_ratio_thresholds": [1.5, 2.5, 4.0],
    # Intent surge: score >= factor x the account's mean for the topic.
    "intent_surge_factor": 2.0,
    "intent_baseline_weeks": 8,
    # ICP fit grade thresholds on the 0-100 fit score.
    "fit_grade_thresholds": {"A": 75, "B": 50, "C": 25},
    "view_through_days": 30,
    "influence_days": 90,
    "renewal_grace_days": 30,
    "clv_max_years": 10,
    # Multi-touch attribution (funnel.kpis.attribution): model, window and time-decay half-life.
    "attribution_model": "w_shaped",
    "attribution_lookback_days": 90,
    "attribution_half_life_days": 7,
}

# --- E-mail -----------------------------------------------------------------
# One URL (abm_site/email_url.py): smtp://, smtp+tls://, smtps://, console://, file://.
# The default writes each mail as a file under var/mail/, so a new install can read
# its password-reset mails without a mail server.
try:
    globals().update(parse_email_url(env.str("EMAIL_URL", default="file://var/mail"), BASE_DIR))
except EmailUrlError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ABM funnel <abm@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)

# --- Webhooks (issue 17) -------------------------------------------------------
# Targets resolving to private, loopback or link-local addresses are refused unless this is
# on (the default in development, DEBUG=1; never in production).
ABM_WEBHOOKS_ALLOW_PRIVATE = env.bool("ABM_WEBHOOKS_ALLOW_PRIVATE", default=DEBUG)
ABM_WEBHOOK_TIMEOUT_SECONDS = env.float("ABM_WEBHOOK_TIMEOUT_SECONDS", default=10)
ABM_WEBHOOK_MAX_ATTEMPTS = env.int("ABM_WEBHOOK_MAX_ATTEMPTS", default=8)
ABM_WEBHOOK_BACKOFF_SECONDS = env.float("ABM_WEBHOOK_BACKOFF_SECONDS", default=30)
ABM_WEBHOOK_BACKOFF_MAX_SECONDS = env.float("ABM_WEBHOOK_BACKOFF_MAX_SECONDS", default=3600)
ABM_WEBHOOK_DISABLE_AFTER = env.int("ABM_WEBHOOK_DISABLE_AFTER", default=20)

# --- Logging ----------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- REST API (issue 4) ---
# One schema component per shared choice set (from_stage / to_stage are both stages).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "StageEnum": "funnel.choices.Stage",
    "TouchKindEnum": "engagement.choices.TouchKind",
    "KpiKindEnum": [("activity", "Activity"), ("outcome", "Outcome")],
}

# --- security ---
# Sign-in lockout (django-axes), sessions, optional TOTP, request limits, API
# throttling, cache, Content-Security-Policy. See abm_site/security.py and
# abm_site/access.py (the access matrix).


def _insert_after(items: list[str], anchor: str, *new: str) -> None:
    """Insert ``new`` right after ``anchor`` (idempotent), keeping the others' order."""
    position = items.index(anchor) + 1
    for item in reversed([n for n in new if n not in items]):
        items.insert(position, item)


INSTALLED_APPS += ["axes", "django_otp", "django_otp.plugins.otp_totp", "csp"]
_insert_after(
    MIDDLEWARE,
    "django.middleware.security.SecurityMiddleware",
    "abm_site.security.BodyLimitMiddleware",
    "abm_site.security.DatabaseUnavailableMiddleware",
    "csp.middleware.CSPMiddleware",
)
_insert_after(
    MIDDLEWARE,
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "abm_site.security.SessionTimeoutMiddleware",
)
MIDDLEWARE += [
    "abm_site.security.AccessMiddleware",
    "axes.middleware.AxesMiddleware",
    "abm_site.security.ReportTimeoutMiddleware",
    "funnel.kpis.version.DataVersionPerRequest",  # the data version read once per request
]

AUTHENTICATION_BACKENDS = [
    "abm_site.authentication.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# 5 failed sign-ins for one username from one address lock that pair for 15 minutes.
AXES_FAILURE_LIMIT = env.int("ABM_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.int("ABM_LOGIN_LOCKOUT_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Failed sign-ins from one address over any user names before the address is locked
# (password spraying); higher than the per-user limit, as an office may share an address.
ABM_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("ABM_LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
if ABM_LOGIN_ADDRESS_FAILURE_LIMIT < AXES_FAILURE_LIMIT:
    raise ImproperlyConfigured(
        "ABM_LOGIN_ADDRESS_FAILURE_LIMIT must be at least ABM_LOGIN_FAILURE_LIMIT "
        f"({ABM_LOGIN_ADDRESS_FAILURE_LIMIT} < {AXES_FAILURE_LIMIT})."
    )
AXES_HANDLER = "abm_site.authentication.SignInLockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_SENSITIVE_PARAMETERS: list[str] = []  # log username and address of failures
AXES_LOCKOUT_CALLABLE = "abm_site.account_views.lockout_response"
AXES_CLIENT_IP_CALLABLE = "abm_site.security.client_ip"
# Reverse proxies in front of the app whose X-Forwarded-For entries are trusted.
ABM_TRUSTED_PROXY_COUNT = env.int("ABM_TRUSTED_PROXY_COUNT", default=0)

SESSION_ABSOLUTE_TIMEOUT = SESSION_COOKIE_AGE
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=8 * 3600)
CSRF_COOKIE_HTTPONLY = True
ABM_REQUIRE_2FA_FOR_ADMINS = env.bool("ABM_REQUIRE_2FA_FOR_ADMINS", default=False)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="ABM funnel")
# TOTP secrets are never shown in the admin (abm_site.admin.TOTPDeviceAdmin).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

ABM_MAX_UPLOAD_BYTES = env.int("ABM_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
ABM_MAX_JSON_BYTES = env.int("ABM_MAX_JSON_BYTES", default=20 * 1024 * 1024)
# Non-file request data Django reads into memory (forms, JSON via request.body).
DATA_UPLOAD_MAX_MEMORY_SIZE = ABM_MAX_JSON_BYTES

# The cache holds the API throttle counters: Redis when there is one, else per process.
_CACHE_URL = env.str(
    "CACHE_URL", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
)
CACHES = {
    "default": (
        {
            # Django's Redis backend, with one client per process (abm_site.cache).
            "BACKEND": "abm_site.cache.PooledRedisCache",
            "LOCATION": _CACHE_URL,
            "KEY_PREFIX": "abm",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if _CACHE_URL.startswith(("redis://", "rediss://", "unix://"))
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["abm_site.throttling.ApiRateThrottle"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"api": env.str("ABM_API_RATE", default="1200/min")}
SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] = ["abm_site.permissions.RolePermission"]

_SELF, _NONE = "'self'", "'none'"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [_SELF],
        "script-src": [_SELF],
        "style-src": [_SELF],
        "img-src": [_SELF, "data:"],
        "font-src": [_SELF],
        "connect-src": [_SELF],
        "form-action": [_SELF],
        "base-uri": [_SELF],
        "object-src": [_NONE],
        "frame-ancestors": [_NONE],
    }
}
# django-axes logs every sign-in at INFO; keep its warnings (failures, lockouts).
LOGGING["loggers"]["axes"] = {"level": "WARNING"}

# --- make run (embedded broker) ---
# kombu's SQLAlchemy transport hands its transport options to create_engine(),
# which rejects Redis-only keys such as visibility_timeout.
if CELERY_BROKER_URL.startswith("sqla+"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
