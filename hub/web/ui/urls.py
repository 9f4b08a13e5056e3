"""URLs of the Django part of the hub (everything the API routes in :mod:`hub.web.app` leave)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic.base import RedirectView

from hub.web.ui import viewer_views
from hub.web.ui.views import accounts, audit, jobs, plugins, reports, routes, worklist

pages = [
    path("worklist/", worklist.worklist, name="worklist"),
    path("worklist/status.json", worklist.status, name="worklist-status"),
    path("reports/<str:study_uid>/", reports.report, name="report"),
    path("reports/<str:study_uid>/review/<int:job_id>/", reports.review, name="review"),
    path("plugins/", plugins.plugins, name="plugins"),
    path("plugins/toggle/", plugins.toggle, name="plugin-toggle"),
    path("jobs/", jobs.job_list, name="jobs"),
    path("jobs/<int:job_id>/", jobs.job_detail, name="job"),
    path("jobs/<int:job_id>/retry/", jobs.job_retry, name="job-retry"),
    path("jobs/<int:job_id>/cancel/", jobs.job_cancel, name="job-cancel"),
    path("routes/", routes.routes, name="routes"),
    path("routes/echo/", routes.echo, name="echo"),
    path("audit/", audit.audit_log, name="audit"),
    path("tokens/", accounts.tokens, name="tokens"),
    path("tokens/new/", accounts.token_create, name="token-create"),
    path("tokens/<int:token_id>/revoke/", accounts.token_revoke, name="token-revoke"),
    path("dicom-viewer/<str:study_uid>/", viewer_views.viewer, name="viewer"),
]

urlpatterns = [
    path("", accounts.home, name="home"),
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="registration/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    # browsers ask for /favicon.ico on pages without a <link rel="icon"> (the admin's)
    path("favicon.ico", RedirectView.as_view(url="/static/ui/favicon.svg", permanent=True)),
    path("", include((pages, "ui"))),
]
