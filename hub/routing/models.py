"""Routing decisions: why each completed series went (or did not go) to each model."""

from __future__ import annotations

from django.db import models

from hub.routing.outcomes import Outcome


class RoutingDecision(models.Model):
    """One decision about one completion run of one series, with its reason in words.

    The reason never holds patient identifiers (their values are redacted by
    :func:`hub.routing.rules.display`).
    """

    series = models.ForeignKey(
        "storage.Series", on_delete=models.CASCADE, related_name="routing_decisions"
    )
    #: The series' completion run this decision belongs to (1 = first completion).
    run = models.PositiveIntegerField()
    #: The route's name ("" for the no-routes fallback and series-level decisions).
    route = models.CharField(max_length=64, blank=True)
    model_name = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=[(o.value, o.value) for o in Outcome])
    reason = models.TextField()
    job = models.ForeignKey(
        "jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series_id", "run", "id"]

    def __str__(self) -> str:
        return f"run {self.run}: {self.reason}"
