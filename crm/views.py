from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .services import user_set_presence


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database answers; used by container health checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not healthy"  # noqa: BLE001
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


class SignInView(auth_views.LoginView):
    """The workspace sign-in; says so when the last session ended for inactivity."""

    template_name = "crm/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["signed_out_idle"] = self.request.session.pop("signed_out_idle", False)
        context["idle_minutes"] = settings.SESSION_IDLE_TIMEOUT_MINUTES
        return context


class SignOutView(auth_views.LogoutView):
    template_name = "crm/logged_out.html"


@login_required
@require_POST
def presence_set(request: HttpRequest) -> HttpResponse:
    """Switch the signed-in person's presence from the header of any page."""
    try:
        user_set_presence(user=request.user, presence=request.POST.get("presence", ""))
    except ValidationError as exc:
        return render(
            request,
            "crm/_presence.html",
            {"presence_error": exc.message_dict["presence"][0]},
            status=400,
        )
    if request.headers.get("HX-Request"):
        return render(request, "crm/_presence.html")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    return redirect(back)


@login_required
@require_POST
def session_keepalive(request: HttpRequest) -> HttpResponse:
    """Count typing and reading on the page as activity (the middleware notes it)."""
    return HttpResponse(status=204)
