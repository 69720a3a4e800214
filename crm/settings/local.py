"""Local development: `make run`. SQLite, embedded broker, console backends."""

from .base import *  # noqa: F403
from .base import env, env_bool

DEBUG = env_bool("DEBUG", True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Webhooks refuse every request without a token; locally `simulate_sms` signs its
# posts with this one, so two-way texting works without a Twilio account.
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", "local-dev-twilio-auth-token")
