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
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
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
