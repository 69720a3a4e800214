"""Sign staff out of the workspace after a spell of doing nothing."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

# Session key holding the epoch second of the user's last own request.
LAST_SEEN_KEY = "workspace_last_seen"
# Requests the page makes by itself (live queue, dashboard tiles) carry this
# header: they must not count as the person being at the screen.
BACKGROUND_HEADER = "HTTP_X_BACKGROUND_REFRESH"
LAST_SEEN_RESOLUTION = 30


def idle_timeout_seconds() -> int:
    return settings.SESSION_IDLE_TIMEOUT_MINUTES * 60


class IdleLogoutMiddleware:
    """Log out a session that has made no request of its own for too long.

    Only sessions signed in through the workspace are watched; token clients of the
    API are not sessions. An htmx request that finds its session expired is told to
    load the sign-in page as a whole page (`HX-Redirect`), not swap it into a panel.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            expired = self._expired(request)
            if expired is not None:
                return expired
        return self.get_response(request)

    def _expired(self, request: HttpRequest) -> HttpResponse | None:
        session = request.session
        if session.get("_auth_user_backend") is None:
            return None
        now = int(time.time())
        last_seen = session.get(LAST_SEEN_KEY)
        if last_seen is not None and now - int(last_seen) > idle_timeout_seconds():
            logout(request)
            request.session["signed_out_idle"] = True
            login_redirect = redirect_to_login(
                request.get_full_path() if request.method == "GET" else "/"
            )
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=204)
                response["HX-Redirect"] = login_redirect["Location"]
                return response
            return login_redirect
        own_request = BACKGROUND_HEADER not in request.META
        # Written at most every LAST_SEEN_RESOLUTION seconds: each write is a
        # session UPDATE, and the timeout does not need to-the-second precision.
        if last_seen is None or (
            own_request and now - int(last_seen) >= LAST_SEEN_RESOLUTION
        ):
            session[LAST_SEEN_KEY] = now
        return None
