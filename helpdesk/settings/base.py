"""Settings shared by every environment, read through one django-environ ``Env``."""

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONCE, NONE, SELF
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    env.read_env(str(env_file))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_NAME = env("HELPDESK_SITE_NAME", default="Helpdesk")
# The public address of the product, for links in e-mails sent outside a request.
SITE_URL = env("HELPDESK_SITE_URL", default="http://127.0.0.1:8000")
# Fernet keys (comma-separated, newest first) that encrypt secrets at rest.
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])

INSTALLED_APPS = [
    "helpdesk.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "tenants",
    "conversations",
    "whatsapp",
    "automations",
    "payments",
    "flows",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "tenants.middleware.TenantMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"
ASGI_APPLICATION = "helpdesk.asgi.application"

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
                "tenants.context_processors.tenancy",
            ],
        },
    },
    {
        # Only the inbox's hot fragments (message bubbles, list rows), rendered with ``using="jinja2"``.
        "NAME": "jinja2",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "helpdesk.jinja2.environment"},
    },
]

# SQLite when DATABASE_URL is unset: the embedded quick start. PostgreSQL everywhere else.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A connection pool per process: under ASGI, requests run on varying threads, so persistent
    # per-thread connections (CONN_MAX_AGE) would pile up; the pool bounds and reuses them.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        # A sending job holds one connection per part of the send queue (its threads), plus its own.
        "max_size": env.int(
            "DATABASE_POOL_MAX_SIZE",
            default=max(8, env.int("DELIVERY_SEND_PARTS", default=env.int("WHATSAPP_SEND_PARTS", default=6)) + 2),
        ),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default has concurrent writers (web requests, in-process jobs): take the write lock
    # up front and wait for it, and let readers work alongside the writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "helpdesk",
        },
        # A Redis outage makes this one miss instead of fail: sessions have their database copy.
        "sessions": {
            "BACKEND": "helpdesk.cache.FailSoftRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "helpdesk:session",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        },
    }
    REDIS_SESSION_CACHE = CACHES["sessions"]
    # Sessions are read from the cache on every request and written through to the database.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    SESSION_CACHE_ALIAS = "sessions"
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub: one message per process and audience group, sequence numbers to notice
            # a gap, bounded per-socket queues, pools that wait (helpdesk/live_layer.py).
            "BACKEND": "helpdesk.live_layer.LiveChannelLayer",
            # No read timeout: the subscription waits on Redis for as long as the workspace is quiet
            # (redis-py 8 defaults to 5 s).
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": "helpdesk:ws",
                "local_capacity": env.int("LIVE_SOCKET_CAPACITY", default=1000),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_CACHE_ALIAS = "default"
    CHANNEL_LAYERS = {"default": {"BACKEND": "helpdesk.live_layer.LiveInMemoryChannelLayer"}}

AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# django-allauth: e-mail login, no usernames. A self-service signup must confirm its address, so that
# signing up with a registered address answers exactly like a new one (the owner of the address gets
# an "account already exists" e-mail instead). Invitations prove an address, so accounts made from
# them (and by staff) have no address record and are not asked to confirm (tenants.adapters).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_ADAPTER = "tenants.adapters.AccountAdapter"
ACCOUNT_ALLOW_SIGNUP = env.bool("ACCOUNT_ALLOW_SIGNUP", default=True)
# Reverse proxies in front of the ASGI server (addresses or networks, e.g. 10.0.0.0/8): only a request
# from one of them has its client address read from X-Forwarded-For (tenants/client_address.py). Give
# uvicorn the same list as --forwarded-allow-ips.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    ipaddress.ip_network(_proxy.strip(), strict=False)  # a mistyped entry fails at start, not at the first login
# Failed logins are throttled per account ("key") and per client address. The per-address limit is a
# high ceiling against one machine trying many accounts: many people may share an address (an office,
# a mobile carrier), and one of them typing wrong passwords must not lock out the others.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env("LOGIN_FAILED_RATE_LIMIT", default="200/15m/ip,5/5m/key"),
    "reset_password": "20/m/ip,5/m/key",
    "signup": "20/m/ip",
}
MFA_ADAPTER = "tenants.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = SITE_NAME
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env.bool("MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN", default=DEBUG)

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Helpdesk <helpdesk@localhost>")
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our date, time and number formats per language (helpdesk/formats/<locale>/formats.py), before Django's.
FORMAT_MODULE_PATH = ["helpdesk.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "helpdesk.staticfiles.StaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api_auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "helpdesk.api.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "helpdesk.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON nested too deeply is a 400 (helpdesk.parsers.JsonParser), never a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "helpdesk.parsers.JsonParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": f"{SITE_NAME} API",
    "DESCRIPTION": (
        "REST API of the WhatsApp Business helpdesk. Authenticate with a tenant API token "
        "(`Authorization: Bearer hd_...`) or a browser session. Errors share one format: "
        '`{"error": {"code": "...", "message": "...", "details": {...}}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our own static files (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets of fields that share a name across the apps' serializers ("kind"), named once each.
    "ENUM_NAME_OVERRIDES": {
        "PaymentAccountKindEnum": "payments.models.PaymentAccount.Kind",
        "ReconciliationDifferenceKindEnum": "payments.reconciliation.KINDS",
        "EntryLinkKindEnum": "flows.models.EntryLink.Kind",
        "SourceKindEnum": "flows.links.SOURCE_KINDS",
        "BroadcastStatusEnum": "campaigns.models.Broadcast.Status",
    },
}

# Celery: JSON only, bounded tasks, beat schedule in one place.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# Without a worker, delayed jobs (retries, pacing) run on a timer thread of the web process.
HELPDESK_EAGER_DELAYED_TASKS = "thread"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A reply a customer waits for (an agent's answer, a greeting, a bot's step: ``message_deliver_ahead``) has a
# queue of its own. Every worker takes both queues; a worker started with ``-Q replies`` keeps processes free
# for replies while the others work long jobs (a broadcast's feeding and sending, webhook drains).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("replies"))
CELERY_TASK_ROUTES = {"conversations.tasks.message_deliver_ahead": {"queue": "replies"}}
# A job whose worker died is handed out again after this many seconds (Redis broker).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600)}
CELERY_TASK_TIME_LIMIT = 300
# Celery's Django fixup otherwise closes the whole connection pool around every task (a new pool and
# a new connection per job); the worker keeps its pool, and each task hands its connection back to
# it (helpdesk/celery.py). The pool is still rebuilt every this many tasks.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "purge-expired-invitations": {
        "task": "tenants.tasks.invitations_purge_expired",
        "schedule": 3600.0,
    },
    "conversations-unsnooze-due": {"task": "conversations.tasks.conversations_unsnooze_due", "schedule": 30.0},
    "events-deliveries-sweep": {"task": "conversations.tasks.event_deliveries_sweep", "schedule": 60.0},
    "events-reply-windows": {"task": "conversations.tasks.reply_window_events_record", "schedule": 60.0},
    "events-purge": {"task": "conversations.tasks.events_purge", "schedule": 3600.0},
    # Auto-resolve (docs/auto-resolve.md): conversations quiet for their inbox's hours, every 5 minutes.
    "automations-auto-resolve": {
        "task": "automations.tasks.conversations_auto_resolve",
        "schedule": env.float("AUTO_RESOLVE_INTERVAL_SECONDS", default=300.0),
    },
    # SLA breaches (docs/sla.md): deadlines that passed unmet, every minute.
    "automations-sla-breaches": {
        "task": "automations.tasks.sla_breaches_record",
        "schedule": env.float("SLA_BREACH_INTERVAL_SECONDS", default=60.0),
    },
    # Auto-assignment (docs/teams-and-assignment.md): every waiting queue once a minute (a team's hours
    # starting; an event that could not be handled), beside the events that run it at once.
    "automations-auto-assign": {"task": "automations.tasks.auto_assign_queues", "schedule": 60.0},
    # Automation rules' run log (docs/automation-rules.md): runs older than 30 days, every hour.
    "automations-rule-runs-purge": {"task": "automations.tasks.rule_runs_purge", "schedule": 3600.0},
}
# The inbox's "breaching soon" filter: SLA deadlines within this many minutes (or passed).
SLA_BREACHING_SOON_MINUTES = env.int("SLA_BREACHING_SOON_MINUTES", default=30)
# Domain events (docs/events.md): a failing subscriber is tried this many times, waiting the retry
# time doubled after each failure (at most an hour); a pending delivery whose job has not run this
# long after it was due is enqueued again; ReplyWindowClosing is recorded this long before the end.
EVENTS_DELIVERY_MAX_ATTEMPTS = env.int("EVENTS_DELIVERY_MAX_ATTEMPTS", default=6)
EVENTS_DELIVERY_RETRY_SECONDS = env.float("EVENTS_DELIVERY_RETRY_SECONDS", default=10.0)
EVENTS_SWEEP_AFTER_SECONDS = env.float("EVENTS_SWEEP_AFTER_SECONDS", default=300.0)
# A transaction delivers at most this many of one subscriber's events (a drain job works them in turn).
EVENTS_DELIVERY_BATCH = env.int("EVENTS_DELIVERY_BATCH", default=100)
# A subscriber's drain job hands over to a fresh one after this long (a long backlog).
EVENTS_DRAIN_SECONDS = env.float("EVENTS_DRAIN_SECONDS", default=60.0)
# Events delivered to every subscriber are purged this many days later (hourly, in batches); failed
# deliveries are kept for admins to see and retry this many days after they failed.
EVENTS_RETENTION_DAYS = env.float("EVENTS_RETENTION_DAYS", default=7.0)
EVENTS_FAILED_RETENTION_DAYS = env.float("EVENTS_FAILED_RETENTION_DAYS", default=30.0)
EVENTS_REPLY_WINDOW_LEAD_SECONDS = env.float("EVENTS_REPLY_WINDOW_LEAD_SECONDS", default=3600.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per request to the Cloud API otherwise (a broadcast would write thousands).
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# Content-Security-Policy on every response (django-csp): scripts, styles, fonts and connections only
# from this site; no inline script or style (a script that must be inline carries the request's
# nonce); images also from data: and blob: URLs (QR codes, previews of files being attached).
_site = urlsplit(SITE_URL).netloc
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF, f"ws://{_site}", f"wss://{_site}"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
ADMIN_URL = env("DJANGO_ADMIN_URL", default="django-admin/")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

# Payment providers. Their addresses are the deployment's, never a workspace's: a workspace picks one
# of the API Pix providers listed here (its bank), and gives only its own credentials.
# PAYMENTS_PIX_PROVIDERS: {"<key>": {"name": "...", "api_url": "https://...", "token_url": "https://...",
# "token_request": "form_basic" | "json_basic" | "form_client_id"}}
PAYMENTS_PIX_PROVIDERS = env.json("PAYMENTS_PIX_PROVIDERS", default={})
MERCADOPAGO_API_URL = env("MERCADOPAGO_API_URL", default="https://api.mercadopago.com").rstrip("/")
STRIPE_API_URL = env("STRIPE_API_URL", default="https://api.stripe.com").rstrip("/")
PAYMENTS_HTTP_TIMEOUT = env.float("PAYMENTS_HTTP_TIMEOUT", default=15.0)
# How long a payment request stays open (WhatsApp needs at least 5 minutes).
PAYMENTS_REQUEST_MINUTES = env.int("PAYMENTS_REQUEST_MINUTES", default=60)
# Plain-HTTP providers on this machine (the fake PSP): development and tests only.
PAYMENTS_ALLOW_PLAIN_HTTP = env.bool("PAYMENTS_ALLOW_PLAIN_HTTP", default=False)
# A change of the catalog is synced to the channels' catalogs this many seconds later, with every change made meanwhile.
PAYMENTS_CATALOG_SYNC_DELAY_SECONDS = env.float("PAYMENTS_CATALOG_SYNC_DELAY_SECONDS", default=10.0)

# Bot flows' integration steps call a workspace's own endpoint: public https only. These open it to a
# fake endpoint on this machine (loopback addresses; plain http): development and tests only.
FLOWS_INTEGRATION_ALLOW_LOOPBACK = env.bool("FLOWS_INTEGRATION_ALLOW_LOOPBACK", default=False)
FLOWS_INTEGRATION_ALLOW_PLAIN_HTTP = env.bool("FLOWS_INTEGRATION_ALLOW_PLAIN_HTTP", default=False)

# The transit operator (bus cards) whose API bot flows look cards up at and credit recharges through; empty: not
# configured. A workspace gives only its API key (`make run` points this at the fake operator).
TRANSIT_OPERATOR_BASE_URL = env("TRANSIT_OPERATOR_BASE_URL", default="").rstrip("/")

# WhatsApp Cloud API
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # Meta's webhook bodies reach 3 MB
# The Graph API every number is reached through: Meta's, or the fake Cloud API's in development and tests.
WHATSAPP_API_BASE_URL = env("WHATSAPP_API_BASE_URL", default="https://graph.facebook.com").rstrip("/")
# Hosts a media URL from Meta may point at (``*.example.com`` for subdomains); any other is refused.
WHATSAPP_MEDIA_ALLOWED_HOSTS = env.list("WHATSAPP_MEDIA_ALLOWED_HOSTS", default=["lookaside.fbsbx.com"])
# Media may be fetched from loopback addresses over plain http: only for the fake Cloud API on this machine.
WHATSAPP_MEDIA_ALLOW_LOOPBACK = env.bool("WHATSAPP_MEDIA_ALLOW_LOOPBACK", default=False)
WHATSAPP_API_VERSION = env("WHATSAPP_API_VERSION", default="v23.0")
# The deployment's Meta app: the Resumable Upload API uploads a template's media header sample as this app.
WHATSAPP_APP_ID = env("WHATSAPP_APP_ID", default="")
WHATSAPP_HTTP_TIMEOUT = env.float("WHATSAPP_HTTP_TIMEOUT", default=15.0)
WHATSAPP_HTTP_CONNECT_TIMEOUT = env.float("WHATSAPP_HTTP_CONNECT_TIMEOUT", default=5.0)
WHATSAPP_REPLY_WINDOW_HOURS = 24
# The throughput limit counts sends over a second plus this margin. A queued send's slot is moved to
# when Meta answered it, which covers a request that arrived late; the margin is for single sends.
WHATSAPP_THROUGHPUT_MARGIN_MS = env.int("WHATSAPP_THROUGHPUT_MARGIN_MS", default=10)
WHATSAPP_PAIR_INTERVAL_SECONDS = env.float("WHATSAPP_PAIR_INTERVAL_SECONDS", default=6.0)
WHATSAPP_PAIR_BURST = env.int("WHATSAPP_PAIR_BURST", default=45)
# How long a send that timed out waits for Meta's status webhook before it is tried again.
WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS = env.float("WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS", default=120.0)
WHATSAPP_WEBHOOK_SWEEP_AFTER_SECONDS = env.float("WHATSAPP_WEBHOOK_SWEEP_AFTER_SECONDS", default=60.0)
# A delivery status that arrived before its message waits this long for it, then the webhook sweeper
# deletes it (its message was sent by another app on the number, or to a group).
WHATSAPP_PENDING_STATUS_MAX_AGE_DAYS = env.float("WHATSAPP_PENDING_STATUS_MAX_AGE_DAYS", default=3.0)
# Webhook events are processed by up to this many batch jobs per channel at once.
WHATSAPP_DRAIN_SLOTS = env.int("WHATSAPP_DRAIN_SLOTS", default=2)
WHATSAPP_DRAIN_BATCH = env.int("WHATSAPP_DRAIN_BATCH", default=50)
WHATSAPP_DRAIN_SECONDS = env.float("WHATSAPP_DRAIN_SECONDS", default=30.0)
# After a batch of only a few events, a drain job waits this long for more before claiming again.
WHATSAPP_DRAIN_LINGER_SECONDS = env.float("WHATSAPP_DRAIN_LINGER_SECONDS", default=0.1)
WHATSAPP_SWEEP_INTERVAL_SECONDS = env.float("WHATSAPP_SWEEP_INTERVAL_SECONDS", default=15.0)
# A customer's file still waiting for its download this long (its job was lost, or the broker was down
# when it was asked for) is asked for again by a sweeper that runs this often, for this many days
# (Meta keeps a media id for 30 days).
WHATSAPP_ATTACHMENT_SWEEP_AFTER_SECONDS = env.float("WHATSAPP_ATTACHMENT_SWEEP_AFTER_SECONDS", default=120.0)
WHATSAPP_ATTACHMENT_SWEEP_INTERVAL_SECONDS = env.float("WHATSAPP_ATTACHMENT_SWEEP_INTERVAL_SECONDS", default=300.0)
WHATSAPP_ATTACHMENT_SWEEP_MAX_AGE_DAYS = env.float("WHATSAPP_ATTACHMENT_SWEEP_MAX_AGE_DAYS", default=7.0)

# The core's send queue (conversations/services/delivery.py), whatever the channel. The WHATSAPP_*
# names these settings had before the queue moved to the core are still read as their defaults.
# A send that keeps failing transiently is tried this many times before it is marked failed.
DELIVERY_MAX_SEND_ATTEMPTS = env.int(
    "DELIVERY_MAX_SEND_ATTEMPTS", default=env.int("WHATSAPP_MAX_SEND_ATTEMPTS", default=8)
)
# A claimed send that has not been recorded within this lease is looked at by the sweeper: it covers
# the send itself and the wait for a status naming a message whose send got no answer.
DELIVERY_SEND_LEASE_SECONDS = env.float(
    "DELIVERY_SEND_LEASE_SECONDS",
    default=env.float("WHATSAPP_SEND_LEASE_SECONDS", default=60.0) + WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS,
)
# An inbox's send queue is split in this many parts by conversation, sent side by side by one job's
# threads (each part in order), claiming this many messages at a time, for this long per job.
DELIVERY_SEND_PARTS = env.int("DELIVERY_SEND_PARTS", default=env.int("WHATSAPP_SEND_PARTS", default=6))
DELIVERY_SEND_BATCH = env.int("DELIVERY_SEND_BATCH", default=env.int("WHATSAPP_SEND_BATCH", default=20))
DELIVERY_DRAIN_SECONDS = env.float("DELIVERY_DRAIN_SECONDS", default=WHATSAPP_DRAIN_SECONDS)
# A queued, due message no job took this long (its job was lost, or the broker was down when it was
# enqueued) is handed over again by the sweeper, which runs this often.
DELIVERY_QUEUED_SWEEP_AFTER_SECONDS = env.float(
    "DELIVERY_QUEUED_SWEEP_AFTER_SECONDS", default=env.float("WHATSAPP_QUEUED_SWEEP_AFTER_SECONDS", default=5.0)
)
DELIVERY_SWEEP_INTERVAL_SECONDS = env.float("DELIVERY_SWEEP_INTERVAL_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE["delivery-messages-sweep"] = {
    "task": "conversations.tasks.messages_sweep",
    "schedule": DELIVERY_SWEEP_INTERVAL_SECONDS,
}
CELERY_BEAT_SCHEDULE.update(
    {
        "whatsapp-webhook-events-sweep": {
            "task": "whatsapp.tasks.webhook_events_sweep",
            "schedule": WHATSAPP_SWEEP_INTERVAL_SECONDS,
        },
        "whatsapp-attachments-sweep": {
            "task": "whatsapp.tasks.attachments_download_sweep",
            "schedule": WHATSAPP_ATTACHMENT_SWEEP_INTERVAL_SECONDS,
        },
        "whatsapp-templates-sync": {"task": "whatsapp.tasks.templates_sync_all", "schedule": 3600.0},
    }
)
# Open payment requests are read back from their provider (a webhook may never come) and closed when expired.
CELERY_BEAT_SCHEDULE["payments-requests-sweep"] = {
    "task": "payments.tasks.payment_requests_sweep",
    "schedule": env.float("PAYMENTS_SWEEP_INTERVAL_SECONDS", default=60.0),
}
# Bot flows: sessions silent past their flow's timeout end, payments waited for past their expiry are given up,
# payment reminders go out.
CELERY_BEAT_SCHEDULE["flows-sessions-sweep"] = {
    "task": "flows.tasks.sessions_sweep",
    "schedule": env.float("FLOWS_SWEEP_INTERVAL_SECONDS", default=30.0),
}
# Scheduled messages (docs/scheduled-messages.md): due ones are sent every 30 s; a claim whose job died is taken
# again after SCHEDULED_MESSAGES_RECLAIM_SECONDS; at most SCHEDULED_MESSAGES_MAX_DAYS ahead. One-time codes: the
# sends allowed per contact (10 minutes, a day) and per API token or member (an hour).
CELERY_BEAT_SCHEDULE["campaigns-scheduled-messages"] = {
    "task": "campaigns.tasks.scheduled_messages_send_due",
    "schedule": env.float("SCHEDULED_MESSAGES_INTERVAL_SECONDS", default=30.0),
}
CELERY_BEAT_SCHEDULE["campaigns-otp-messages-mask"] = {"task": "campaigns.tasks.otp_messages_mask", "schedule": 30.0}
# Contact imports whose job went quiet for 10 minutes are queued again (they go on from the last batch).
CELERY_BEAT_SCHEDULE["campaigns-contact-imports-sweep"] = {
    "task": "campaigns.tasks.contact_imports_sweep",
    "schedule": 300.0,
}
# Broadcasts: the send queue is fed CAMPAIGNS_FEED_BATCH messages at a time while fewer than
# CAMPAIGNS_FEED_BACKLOG wait in it; the sweeper starts due ones, ends waits and revives stalled jobs.
CAMPAIGNS_FEED_BATCH = env.int("CAMPAIGNS_FEED_BATCH", default=50)
CAMPAIGNS_FEED_BACKLOG = env.int("CAMPAIGNS_FEED_BACKLOG", default=200)
CAMPAIGNS_FEED_SECONDS = env.float("CAMPAIGNS_FEED_SECONDS", default=30.0)
CAMPAIGNS_STALL_SECONDS = env.float("CAMPAIGNS_STALL_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE["campaigns-broadcasts-sweep"] = {
    "task": "campaigns.tasks.broadcasts_sweep",
    "schedule": env.float("CAMPAIGNS_SWEEP_INTERVAL_SECONDS", default=10.0),
}
CELERY_BEAT_SCHEDULE["whatsapp-limits-refresh"] = {
    "task": "whatsapp.tasks.channel_limits_refresh_all",
    "schedule": env.float("WHATSAPP_LIMITS_REFRESH_SECONDS", default=3600.0),
}
SCHEDULED_MESSAGES_MAX_DAYS = env.int("SCHEDULED_MESSAGES_MAX_DAYS", default=90)
SCHEDULED_MESSAGES_RECLAIM_SECONDS = env.float("SCHEDULED_MESSAGES_RECLAIM_SECONDS", default=120.0)
OTP_SENDS_PER_CONTACT_10_MINUTES = env.int("OTP_SENDS_PER_CONTACT_10_MINUTES", default=3)
OTP_SENDS_PER_CONTACT_DAY = env.int("OTP_SENDS_PER_CONTACT_DAY", default=10)
OTP_SENDS_PER_CALLER_HOUR = env.int("OTP_SENDS_PER_CALLER_HOUR", default=500)
