"""Django settings module, derived from :func:`hub.settings.get_settings`.

Not edited by sites: everything configurable comes from ``PACS_HUB_*`` variables and the
``PACS_HUB_CONFIG`` file.
"""

from __future__ import annotations

from hub.db.urls import database_config
from hub.settings import get_settings

_hub = get_settings()

DEBUG = False
SECRET_KEY = _hub.secret_key.get_secret_value()
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "hub.web.ui",  # first: its templates (login, password change) win over admin's
    "hub.web.ui.admin_site.HubAdminConfig",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "hub.accounts",
    "hub.jobs",
    "hub.storage",
    "hub.routing",
    "hub.dimse",
]
DATABASES = {"default": database_config(_hub.resolved_database_url)}
LOGGING_CONFIG = None
SESSION_COOKIE_NAME = "pacs_hub_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- the web app (hub.web.ui): pages, admin, static files ---------------------------------
ROOT_URLCONF = "hub.web.ui.urls"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hub.web.ui.context.navigation",
            ],
        },
    }
]
# Static files: served at /static/ by the ASGI app itself from Django's finders (app folders,
# STATICFILES_DIRS), so the embedded default needs no collectstatic. Behind nginx,
# `pacs-hub manage collectstatic` copies them to STATIC_ROOT, which nginx serves
# (deploy/nginx: /static/ from PACS_HUB_DATA_DIR/static/).
STATIC_URL = "/static/"
STATIC_ROOT = str(_hub.data_dir.resolve() / "static")
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/worklist/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
CSRF_COOKIE_NAME = "pacs_hub_csrftoken"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# nginx (deploy/nginx) terminates TLS and sends X-Forwarded-Proto; CSRF's Origin check
# compares against the scheme Django sees, so it must see https there.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "pacs-hub",
        "OPTIONS": {"MAX_ENTRIES": 20000},
    }
}
