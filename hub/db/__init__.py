"""The data layer: Django's ORM configured from the hub's settings.

Call :func:`setup` before touching any model; it is idempotent and cheap after the first call.
The embedded default is SQLite in ``DATA_DIR`` (WAL journal, busy timeout, immediate
transactions so concurrent writers queue instead of failing); ``PACS_HUB_DATABASE_URL``
selects PostgreSQL for scale-out.
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_done = False


def setup() -> None:
    """Configure and start Django (models importable, connections configured)."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.db.django_settings")
        import django

        django.setup()
        _done = True


def migrate(verbosity: int = 0) -> None:
    """Apply all migrations to the configured database."""
    setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)
