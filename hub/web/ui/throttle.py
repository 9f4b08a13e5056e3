"""Sign-in throttling: too many recent failed logins lock password sign-in for a while.

Failures are the audit log's ``login_failed`` events (:mod:`hub.web.ui.audit` records them by
signal), counted per user name (case-insensitively: the hub refuses user names differing only
in case, and the lock should not be dodged by changing case) and per client address, within
``[web] login_window_minutes``. At ``login_max_failures`` / ``login_max_failures_per_ip`` a
lock holds until enough of those failures are older than the window; nothing resets it
early (a successful sign-in included). An administrator can instead set a new password.

The lock is the same for existing and unknown user names, so it reveals nothing about which
names exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.db.models import QuerySet
from django.utils import timezone

from hub.settings import get_settings
from hub.web.ui.models import AuditEvent


@dataclass(frozen=True)
class SignInLock:
    """A refusal: which limit was reached and when the lock lifts."""

    #: ``user``: the user name's limit; ``address``: the client address's limit.
    scope: Literal["user", "address"]
    #: Failures counted within the window (at least the limit).
    failures: int
    #: When the failures within the window drop below the limit.
    until: datetime
    #: The window in which failures count (minutes).
    window_minutes: float

    def retry_after(self, now: datetime | None = None) -> int:
        """Whole seconds until the lock lifts (at least 1), for a ``Retry-After`` header."""
        remaining = (self.until - (now or timezone.now())).total_seconds()
        return max(1, math.ceil(remaining))

    def message(self, now: datetime | None = None) -> str:
        """The sentence shown on the login page (no user name, no password)."""
        minutes = max(1, math.ceil(self.retry_after(now) / 60))
        unit = "minute" if minutes == 1 else "minutes"
        if self.scope == "user":
            return (f"Too many failed sign-ins for this user name. Try again in {minutes} "
                    f"{unit}, or ask an administrator to reset the password.")
        return (f"Too many failed sign-ins from this address. Try again in {minutes} {unit}, "
                "or ask an administrator for help.")


    def detail(self) -> str:
        """The audit event's detail: what was counted."""
        whom = "this user name" if self.scope == "user" else "this address"
        return (f"{self.failures} failed sign-ins for {whom} within "
                f"{self.window_minutes:g} minutes")


def sign_in_lock(username: str, ip: str | None) -> SignInLock | None:
    """The lock on a password sign-in as ``username`` from ``ip`` now, or None if allowed.

    ``username`` is the name as the login form cleans it (stripped, NFKC-normalised), which
    is what failed logins record. The user name's limit is checked before the address's.
    """
    options = get_settings().web
    now = timezone.now()
    window = timedelta(minutes=options.login_window_minutes)
    recent = AuditEvent.objects.filter(
        action=AuditEvent.Action.LOGIN_FAILED, created_at__gt=now - window
    )
    checks: list[tuple[Literal["user", "address"], QuerySet[AuditEvent], int]] = []
    if username:
        checks.append(("user", recent.filter(target__iexact=username[:150]),
                       options.login_max_failures))
    if ip:
        checks.append(("address", recent.filter(ip=ip), options.login_max_failures_per_ip))
    for scope, failures, limit in checks:
        times = list(
            failures.order_by("-created_at").values_list("created_at", flat=True)[:limit]
        )
        if len(times) >= limit:
            # once the limit-th newest failure leaves the window, fewer than limit remain
            return SignInLock(scope, failures.count(), times[-1] + window,
                              options.login_window_minutes)
    return None
