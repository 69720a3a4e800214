"""What every workspace page needs: who is signed in, their presence, the timeout."""

from django.conf import settings
from django.http import HttpRequest

from .models import User


def workspace(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "presence_choices": User.Presence.choices,
        "idle_timeout_seconds": settings.SESSION_IDLE_TIMEOUT_MINUTES * 60,
    }
