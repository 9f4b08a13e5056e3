"""Models of the web app: the audit log and radiologists' reviews of AI results."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who did what to which target, when and from where (append-only).

    ``detail`` is a short sentence for people; it never holds a password or a token, and the
    target of a study event is its StudyInstanceUID (never a patient name or ID).
    """

    class Action(models.TextChoices):
        LOGIN = "login", "logged in"
        LOGOUT = "logout", "logged out"
        LOGIN_FAILED = "login_failed", "failed login"
        LOGIN_THROTTLED = "login_throttled", "sign-in refused: too many failures"
        PASSWORD_CHANGED = "password_changed", "changed password"
        WORKLIST_VIEWED = "worklist_viewed", "opened the worklist"
        REPORT_VIEWED = "report_viewed", "opened a report"
        VIEWER_OPENED = "viewer_opened", "opened the viewer"
        REVIEW_ACCEPTED = "review_accepted", "accepted an AI result"
        REVIEW_REJECTED = "review_rejected", "rejected an AI result"
        MODEL_ENABLED = "model_enabled", "enabled a model"
        MODEL_DISABLED = "model_disabled", "disabled a model"
        JOB_RETRIED = "job_retried", "retried a job"
        JOB_CANCELLED = "job_cancelled", "cancelled a job"
        TOKEN_CREATED = "token_created", "created an API token"
        TOKEN_REVOKED = "token_revoked", "revoked an API token"
        PEER_ECHOED = "peer_echoed", "echoed a peer"

    #: Kept after the user is deleted (``username`` still says who).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    target = models.CharField(max_length=200, blank=True, db_index=True)
    detail = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        when = f"{self.created_at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.username or '-'} {self.action} {self.target}"


class ResultReview(models.Model):
    """A radiologist's decision on one AI result (one job); the latest row is the current one."""

    class Decision(models.TextChoices):
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="reviews")
    #: Kept for the worklist's per-study query without a join through the job.
    study_instance_uid = models.CharField(max_length=64, db_index=True)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"review of job {self.job_id}: {self.decision} by {self.reviewer_name}"
