"""Prometheus metrics read from the database at scrape time.

Every number comes from the database (the job, instance and outbox tables) when ``/metrics``
is scraped, never from counters kept in one process, so the figures are the same whichever web
worker answers and however many SCPs and job workers run on however many machines.

Exposed (besides the standard ``process_*``, ``python_gc_*`` and ``python_info`` metrics):

- ``pacs_hub_jobs{state, model}``: jobs per state and model (gauge; every state of every model
  seen, zeros included, so rates and alerts work on absent states too);
- ``pacs_hub_job_stage_seconds{stage, model}``: histogram of the per-stage seconds in finished
  jobs' ``timings`` (load, preprocess, inference, postprocess, write, send), with cumulative
  buckets computed over all rows, so ``histogram_quantile`` works on it;
- ``pacs_hub_queue_depth{queue}``: jobs queued or retrying per Celery queue;
- ``pacs_hub_database_up``: 1 when the job table could be read, 0 otherwise (the job metrics
  are then absent rather than wrong);
- ``pacs_hub_cstore_instances_total{source}`` and ``pacs_hub_cstore_bytes_total{source}``:
  instances stored in the hub and their bytes, by how they arrived (``scp``, ``rest``,
  ``stow``, and ``result`` for the SEG/SR the hub wrote itself), counted in the instance index
  (:class:`StorageCollector`; an instance stored again is counted once; deleting instances
  from the index lowers them, which Prometheus treats as a counter reset);
- ``pacs_hub_outbox_items{state}``: outbox items (deliveries of results to ``send_to`` peers)
  per state, zeros included (pending, sending, sent, dead, cancelled);
- ``pacs_hub_outbox_backlog``: outbox items still to deliver (pending + sending).

The SCP, the workers and the outbox all run in other processes than the web app, so these
too come from the database (:class:`OutboxCollector` reads the outbox table through Django's
app registry: this module imports nothing from :mod:`hub.dimse` or :mod:`hub.web`, so either
layer may use it). Other layers can add their own DB-reading collectors with
:func:`register_collector`.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the stage histogram buckets; ``+Inf`` is added.
STAGE_BUCKETS: tuple[float, ...] = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
#: Rows fetched per round trip when reading finished jobs' timings.
CHUNK_SIZE = 2000

_extra_collectors: list[Collector] = []


def register_collector(collector: Collector) -> None:
    """Add a collector to every registry :func:`build_registry` makes from now on.

    The hook for metrics owned by other layers: such a collector must read shared state (the
    database) at scrape time, like :class:`JobsCollector`, so that any number of processes
    report one truth.
    """
    _extra_collectors.append(collector)


class StageHistogram:
    """Cumulative bucket counts and the sum for one (stage, model) series."""

    def __init__(self, bounds: tuple[float, ...] = STAGE_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Count one observation in its bucket (made cumulative by :meth:`buckets`)."""
        index = next((i for i, bound in enumerate(self.bounds) if seconds <= bound), -1)
        self.counts[index] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` pairs ending with ``+Inf``, as Prometheus expects."""
        running, result = 0, []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            result.append(("+Inf" if math.isinf(bound) else repr(bound), float(running)))
        return result


def stage_seconds(timings: object) -> Iterator[tuple[str, float]]:
    """The (stage, seconds) pairs of a job's ``timings`` JSON that are finite, >= 0 numbers."""
    if not isinstance(timings, dict):
        return
    for stage, value in timings.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value) and value >= 0:
            yield str(stage), float(value)


class JobsCollector(Collector):
    """Reads the job table on each scrape (the caller runs it where sync ORM access is allowed)."""

    def collect(self) -> Iterable[Metric]:
        from django.db import DatabaseError, close_old_connections

        up = GaugeMetricFamily(
            "pacs_hub_database_up", "1 when the job table could be read at this scrape, else 0."
        )
        try:
            close_old_connections()
            metrics = list(self._job_metrics())
        except DatabaseError as exc:
            log.warning("metrics: cannot read the job table: %s", type(exc).__name__)
            up.add_metric([], 0.0)
            return [up]
        up.add_metric([], 1.0)
        return [up, *metrics]

    def _job_metrics(self) -> Iterator[Metric]:
        from django.db.models import Count

        from hub.jobs.models import Job

        jobs = GaugeMetricFamily(
            "pacs_hub_jobs", "Jobs in the database by state and model.", labels=["state", "model"]
        )
        counts: dict[tuple[str, str], int] = defaultdict(int)
        models: set[str] = set()
        for row in Job.objects.order_by().values("state", "model_name").annotate(n=Count("id")):
            counts[row["state"], row["model_name"]] += row["n"]
            models.add(row["model_name"])
        for model in sorted(models):
            for state in Job.State.values:
                jobs.add_metric([state, model], float(counts.get((state, model), 0)))
        yield jobs

        depth = GaugeMetricFamily(
            "pacs_hub_queue_depth",
            "Jobs waiting for a worker (queued or retrying) by Celery queue.",
            labels=["queue"],
        )
        waiting = Job.objects.filter(state__in=[Job.State.QUEUED, Job.State.RETRYING])
        per_queue = {"default": 0} | {
            row["queue"]: row["n"]
            for row in waiting.order_by().values("queue").annotate(n=Count("id"))
        }
        for queue, count in sorted(per_queue.items()):
            depth.add_metric([queue], float(count))
        yield depth

        histograms: dict[tuple[str, str], StageHistogram] = {}
        finished = Job.objects.filter(state__in=Job.FINISHED).order_by()
        for model, timings in finished.values_list("model_name", "timings").iterator(
            chunk_size=CHUNK_SIZE
        ):
            for stage, seconds in stage_seconds(timings):
                histograms.setdefault((stage, model), StageHistogram()).observe(seconds)
        stages = HistogramMetricFamily(
            "pacs_hub_job_stage_seconds",
            "Seconds per job stage (load, preprocess, inference, postprocess, write, send) "
            "over all finished jobs.",
            labels=["stage", "model"],
        )
        for (stage, model), histogram in sorted(histograms.items()):
            stages.add_metric([stage, model], histogram.buckets(), histogram.total)
        yield stages


class StorageCollector(Collector):
    """C-STORE counts and bytes by source, read from the instance index at each scrape."""

    #: Sources always reported (zeros included); others appear when rows carry them.
    SOURCES = ("scp", "rest", "stow", "result")

    def collect(self) -> Iterable[Metric]:
        from django.db import DatabaseError

        try:
            return list(self._metrics())
        except DatabaseError as exc:
            log.warning("metrics: cannot read the instance index: %s", type(exc).__name__)
            return []

    def _metrics(self) -> Iterator[Metric]:
        from django.db.models import Count, Sum

        from hub.storage.models import Instance

        counts = dict.fromkeys(self.SOURCES, 0)
        sizes = dict.fromkeys(self.SOURCES, 0)
        for row in Instance.objects.order_by().values("source").annotate(
            n=Count("id"), size=Sum("size")
        ):
            counts[row["source"]] = row["n"]
            sizes[row["source"]] = row["size"] or 0
        instances = CounterMetricFamily(
            "pacs_hub_cstore_instances",
            "Instances stored in the hub (index rows) by source: scp, rest, stow, result.",
            labels=["source"],
        )
        size = CounterMetricFamily(
            "pacs_hub_cstore_bytes",
            "Bytes of the instances stored in the hub by source.",
            labels=["source"],
        )
        for source in sorted(counts):
            instances.add_metric([source], float(counts[source]))
            size.add_metric([source], float(sizes[source]))
        yield instances
        yield size


class OutboxCollector(Collector):
    """Outbox items per state and the delivery backlog, read from the outbox table."""

    STATES = ("pending", "sending", "sent", "dead", "cancelled")
    BACKLOG = ("pending", "sending")

    def collect(self) -> Iterable[Metric]:
        from django.db import DatabaseError

        try:
            return list(self._metrics())
        except (DatabaseError, LookupError) as exc:  # LookupError: app not installed
            log.warning("metrics: cannot read the outbox table: %s", type(exc).__name__)
            return []

    def _metrics(self) -> Iterator[Metric]:
        from django.apps import apps
        from django.db.models import Count

        item = apps.get_model("dimse", "OutboxItem")
        counts = dict.fromkeys(self.STATES, 0)
        for row in item.objects.order_by().values("state").annotate(n=Count("id")):
            counts[row["state"]] = row["n"]
        items = GaugeMetricFamily(
            "pacs_hub_outbox_items",
            "Outbox items (deliveries of results to send_to peers) by state.",
            labels=["state"],
        )
        for state in sorted(counts):
            items.add_metric([state], float(counts[state]))
        yield items
        yield GaugeMetricFamily(
            "pacs_hub_outbox_backlog",
            "Outbox items still to deliver (pending + sending).",
            value=float(sum(counts[state] for state in self.BACKLOG)),
        )


def build_registry() -> CollectorRegistry:
    """A registry with the process metrics, the hub's DB-reading collectors and registered ones."""
    from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

    registry = CollectorRegistry(auto_describe=False)
    for collector in (
        PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR,
        JobsCollector(), StorageCollector(), OutboxCollector(),
    ):
        registry.register(collector)
    for collector in _extra_collectors:
        registry.register(collector)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (sync: reads the database)."""
    return generate_latest(registry)
