"""Gunicorn settings for the container: `gunicorn -c crm/deploy/gunicorn.conf.py`.

Every number can be changed from the environment; the defaults suit a small
instance behind a TLS-terminating proxy.
"""

import os

from gunicorn.glogging import Logger


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "crm.wsgi:application"
# All interfaces of the container; compose decides what is published on the host.
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# Processes x threads. Rendering a lead list is CPU work in Python, so on a small
# instance threads only queue behind the GIL (measured with bench/api_leads.py on two
# cores: 4 threads raised list p99 by a third). Raise GUNICORN_THREADS where requests
# wait on the network instead; each thread holds its own database connection.
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", 2))
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"

timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Longer than the usual proxy idle timeout would cause 502s; shorter costs handshakes.
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Recycle workers now and then so that a slow leak cannot grow without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)

# Heartbeat files on tmpfs: on an overlay filesystem they can stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# No runtime control socket (recent gunicorn opens one under $HOME by default): the
# container's filesystem is read-only and signals do the same job. Older versions
# ignore the name.
control_socket_disable = True

# Logs to stdout/stderr for the container runtime. The access log holds the path
# only: query strings carry searches by name and phone number (health information),
# and neither bodies, the referrer nor cookies are logged.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


class AccessLogger(Logger):
    """Leave out the container health check's own successful probes."""

    def access(self, resp, req, environ, request_time):
        if (
            environ.get("PATH_INFO") == "/healthz/"
            and environ.get("REMOTE_ADDR") == "127.0.0.1"
            and str(resp.status).startswith("200")
        ):
            return
        super().access(resp, req, environ, request_time)


logger_class = AccessLogger
