"""Settings shared by every environment; everything deployment-specific comes from the environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("SETTLE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Use SECRET_KEY from the environment, else one generated once into var/ for local use."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("SETTLE_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

# Links sent to customers are always built from this, never from the request's Host header.
SETTLE_BASE_URL = os.environ.get("SETTLE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = [SETTLE_BASE_URL]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "settle.core",
    "settle.tenants",
    "settle.customers",
    "settle.messaging",
    "settle.invoicing",
    "settle.notifications",
    "settle.payments",
    "settle.backoffice",
    "settle.portal",
    "settle.sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "settle.portal.middleware.CustomerLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "settle.portal.middleware.SameOriginCsrfMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "settle.tenants.middleware.CurrentMerchantMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "settle.tenants.context_processors.current_merchant",
            ],
        },
    },
]


def database_from_url(url: str) -> dict[str, object]:
    """Parse DATABASE_URL; SQLite gets WAL, IMMEDIATE transactions (so writers queue instead of
    failing on lock upgrade) and a busy timeout."""
    config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=0))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        }
    return config


DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'settle.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "backoffice:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "settle" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}


def email_from_url(url: str) -> dict[str, object]:
    """smtp://user:pass@host:port?tls=1, console://, locmem:// → Django e-mail settings."""
    parsed = urlparse(url)
    backends = {
        "smtp": "django.core.mail.backends.smtp.EmailBackend",
        "console": "settle.messaging.console.ConsoleEmailBackend",
        "locmem": "django.core.mail.backends.locmem.EmailBackend",
    }
    options = parse_qs(parsed.query)
    return {
        "EMAIL_BACKEND": backends[parsed.scheme],
        "EMAIL_HOST": parsed.hostname or "localhost",
        "EMAIL_PORT": parsed.port or 25,
        "EMAIL_HOST_USER": unquote(parsed.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
        "EMAIL_USE_TLS": options.get("tls", ["0"])[0] == "1",
        "EMAIL_USE_SSL": options.get("ssl", ["0"])[0] == "1",
    }


globals().update(email_from_url(os.environ.get("EMAIL_URL", "console://")))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Settle <no-reply@settle.local>")

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Sweeps `settle worker` enqueues on a timer (dotted path → seconds between runs).
SETTLE_PERIODIC_TASKS = {
    "settle.messaging.tasks.messages_sweep": 60,
    # The sandbox processor's heartbeat: settles and returns bank debits, re-sends due webhooks.
    "settle.sandbox.tasks.sandbox_advance_task": 60,
    "settle.payments.tasks.charge_attempts_reconcile_due": 60,
    "settle.payments.tasks.refunds_reconcile_due": 60,
    "settle.payments.tasks.inbound_events_process_due": 60,
}

# Payment gateways a merchant can choose (name → dotted path of a settle.gateways.base.Gateway).
SETTLE_GATEWAYS = {"sandbox": "settle.gateways.sandbox.SandboxGateway"}

# Message channels by dotted path, like e-mail backends. Texts stay in a local outbox the merchant
# reads in the back office until SMS_BACKEND=twilio (with the TWILIO_* settings and SMS_FROM).
SETTLE_MESSAGE_CHANNELS = {
    "email": "settle.messaging.channels.email.EmailChannel",
    "sms": {
        "local": "settle.messaging.channels.sms.LocalSmsChannel",
        "twilio": "settle.messaging.channels.sms.TwilioSmsChannel",
    }[os.environ.get("SMS_BACKEND", "local")],
    "messenger": "settle.messaging.channels.share.MessengerChannel",
    "link": "settle.messaging.channels.share.CopyLinkChannel",
}
SMS_FROM = os.environ.get("SMS_FROM", "")  # a phone number in E.164, or a Twilio Messaging Service SID (MG…)
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_BASE_URL = os.environ.get("TWILIO_BASE_URL", "https://api.twilio.com")
FACEBOOK_APP_ID = os.environ.get("FACEBOOK_APP_ID", "")  # Messenger's send dialog; without it, fb-messenger:// links

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if redis_url := os.environ.get("REDIS_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # fpdf2 subsets fonts with fontTools, which logs several INFO lines for every PDF.
    "loggers": {"fontTools": {"level": "WARNING"}},
}
