"""pytest: fast hashing, in-memory backends, no throttling surprises."""

from .base import *  # noqa: F403
from .base import MIDDLEWARE, REST_FRAMEWORK

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SMS_BACKEND = "locmem"
VOICE_BACKEND = "locmem"
CELERY_TASK_ALWAYS_EAGER = False
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"token": "5/minute"},
}
# Tests never serve collected static files.
MIDDLEWARE = [
    m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"
]
TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_AUTH_TOKEN = "test-twilio-auth-token"  # noqa: S105 - tests sign with it
PUBLIC_BASE_URL = "https://crm.example.org"
SMS_FROM_NUMBER = "+18885550100"
TWILIO_MESSAGING_SERVICE_SID = ""
