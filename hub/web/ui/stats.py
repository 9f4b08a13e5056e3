"""Per-model job statistics for the plugins page: counts, failure rate, latency percentiles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db.models import Count

from hub.jobs.models import Job

#: Latency percentiles are computed over each model's most recent succeeded jobs.
LATENCY_WINDOW = 1000


@dataclass
class ModelStats:
    """Job counts by state and latency of one model name (all versions)."""

    model: str
    counts: dict[str, int] = field(default_factory=dict)
    p50: float | None = None
    p95: float | None = None
    samples: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in (Job.State.SUCCEEDED, Job.State.FAILED))

    @property
    def failure_rate(self) -> float | None:
        """Failed / (succeeded + failed); None before any job finished."""
        if not self.finished:
            return None
        return self.counts.get(Job.State.FAILED, 0) / self.finished


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def job_seconds(timings: dict, started: object, finished: object) -> float | None:
    """A job's run time: the worker's ``total`` timing, else finished - started."""
    total = (timings or {}).get("total")
    if isinstance(total, int | float):
        return float(total)
    if started is not None and finished is not None:
        return (finished - started).total_seconds()  # type: ignore[operator]
    return None


def model_stats(names: list[str]) -> dict[str, ModelStats]:
    """Statistics for every model name in ``names`` and every name that has jobs."""
    stats = {name: ModelStats(name) for name in names}
    for row in Job.objects.values("model_name", "state").annotate(n=Count("id")):
        entry = stats.setdefault(row["model_name"], ModelStats(row["model_name"]))
        entry.counts[row["state"]] = row["n"]
    for name, entry in stats.items():
        recent = Job.objects.filter(model_name=name, state=Job.State.SUCCEEDED).order_by(
            "-finished_at", "-id"
        ).values_list("timings", "started_at", "finished_at")[:LATENCY_WINDOW]
        seconds = [s for s in (job_seconds(*row) for row in recent) if s is not None]
        entry.samples = len(seconds)
        entry.p50 = percentile(seconds, 0.50)
        entry.p95 = percentile(seconds, 0.95)
    return stats
