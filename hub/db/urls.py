"""Translate ``PACS_HUB_DATABASE_URL`` into a Django ``DATABASES`` entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from hub.errors import ConfigError

#: SQLite pragmas for the embedded default: readers never block the writer (WAL), fsync at
#: checkpoints only (safe with WAL), foreign keys on.
SQLITE_INIT = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
BUSY_TIMEOUT_S = 30


def database_config(url: str) -> dict[str, Any]:
    """A Django database dict for ``sqlite:///path`` or ``postgresql://user:pw@host:port/db``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        raw = unquote(parts.path)
        if not raw or raw == "/":
            raise ConfigError(
                f"database URL {url!r} names no SQLite file",
                "use sqlite:////absolute/path/hub.sqlite3",
            )
        path = Path(raw[1:] if raw.startswith("//") else raw)
        path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(path),
            "OPTIONS": {
                "timeout": BUSY_TIMEOUT_S,
                "init_command": SQLITE_INIT,
                "transaction_mode": "IMMEDIATE",
            },
        }
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError(
                f"database URL {redacted(url)!r} names no database",
                "append the database name: postgresql://user@host:5432/NAME",
            )
        options = dict(parse_qsl(parts.query))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r} in PACS_HUB_DATABASE_URL",
        "use sqlite:///path/to/file or postgresql://user:password@host:port/database",
    )


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``, for logs and status output."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
