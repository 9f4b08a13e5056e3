"""The audit log page (Admin): who did what, when, from where; filtered and paged."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from hub.web.ui.access import require
from hub.web.ui.forms import AuditFilter
from hub.web.ui.models import AuditEvent

PAGE_SIZE = 50


@require_GET
@require("view_audit")
def audit_log(request: HttpRequest) -> HttpResponse:
    """Audit events, newest first."""
    form = AuditFilter(request.GET or None)
    data = form.cleaned_data if request.GET and form.is_valid() else {}
    query = AuditEvent.objects.all()
    if data.get("user"):
        query = query.filter(Q(username__iexact=data["user"]))
    if data.get("action"):
        query = query.filter(action=data["action"])
    if data.get("target"):
        query = query.filter(Q(target__icontains=data["target"]) |
                             Q(detail__icontains=data["target"]))
    if data.get("date_from"):
        query = query.filter(created_at__date__gte=data["date_from"])
    if data.get("date_to"):
        query = query.filter(created_at__date__lte=data["date_to"])
    page = Paginator(query, PAGE_SIZE).get_page(data.get("page") or 1)
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "ui/audit.html", {
        "form": form if request.GET else AuditFilter(), "page": page,
        "query_string": params.urlencode(),
    })
