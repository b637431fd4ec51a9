"""Pages owned by the studio itself: home, account, system (/healthz: studio/health.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.authtoken.models import Token

from studio import services
from studio.models import WorkerCheck


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("project-list")


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    new_key = None
    if request.method == "POST":
        new_key = services.token_rotate(user=request.user).key
        messages.success(request, "A new API token was created; the old one no longer works.")
    has_token = Token.objects.filter(user=request.user).exists()
    return render(request, "studio/account.html", {"new_key": new_key, "has_token": has_token})


@staff_member_required
@require_http_methods(["GET", "POST"])
def system(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            services.worker_check_create(user=request.user)
        except services.WorkerCheckThrottled as exc:
            messages.error(request, str(exc))
        else:
            messages.info(request, "A worker check was sent; reload to see which worker ran it.")
        return redirect("system")
    checks = WorkerCheck.objects.filter(created_by=request.user)[:10]
    return render(request, "studio/system.html", {"checks": checks})
