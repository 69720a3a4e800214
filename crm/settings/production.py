"""Production: PostgreSQL, Redis, secrets from the environment, HTTPS only."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, env, env_bool, env_int

DEBUG = False

SECRET_KEY = env("SECRET_KEY")
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY")
for _name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL"):
    if not env(_name):
        raise ImproperlyConfigured(f"{_name} must be set in production")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured("production needs PostgreSQL in DATABASE_URL")

# Texts go through Twilio unless a deployment says otherwise; then its webhooks
# need the token to check signatures and the public URL Twilio calls.
SMS_BACKEND = env("SMS_BACKEND", "twilio")
if SMS_BACKEND == "twilio":
    for _name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"):
        if not env(_name):
            raise ImproperlyConfigured(f"{_name} must be set to send texts by Twilio")
    if not env("PUBLIC_BASE_URL", "").startswith("https://"):
        raise ImproperlyConfigured("PUBLIC_BASE_URL must be an https:// address")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# The container health check calls /healthz/ over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
