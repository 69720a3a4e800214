"""Where the current request came from, for the audit trail.

Services record who changed a lead; the IP address and user agent belong to the
request that asked for it. The middleware puts them here so that services need not
carry a request around, and code outside a request (tasks, commands) records
channel "system".
"""

import ipaddress
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class RequestOrigin:
    ip_address: str | None = None
    user_agent: str = ""
    channel: str = "system"


SYSTEM_ORIGIN = RequestOrigin()
_current_origin: ContextVar[RequestOrigin | None] = ContextVar(
    "current_origin", default=None
)


def current_origin() -> RequestOrigin:
    return _current_origin.get() or SYSTEM_ORIGIN


def client_ip(request) -> str | None:
    """Return the client's address, trusting only the configured number of proxies.

    A forwarded value that is not an address ("unknown", junk) is ignored: it would
    otherwise reach the audit trail's address column and fail the request.
    """
    num_proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if num_proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            hop = hops[-min(num_proxies, len(hops))]
            if _is_address(hop):
                return hop
    remote = request.META.get("REMOTE_ADDR") or None
    return remote if remote and _is_address(remote) else None


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        channel = "api" if request.path.startswith("/api/") else "web"
        if request.path.startswith("/admin/"):
            channel = "admin"
        token = _current_origin.set(
            RequestOrigin(
                ip_address=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
                channel=channel,
            )
        )
        try:
            return self.get_response(request)
        finally:
            _current_origin.reset(token)
