"""Metrics computed from real job rows (SQLite, or PostgreSQL when PACS_HUB_DATABASE_URL says)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.metrics import STAGE_BUCKETS, StageHistogram, build_registry, render, stage_seconds


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a Prometheus text page keyed by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[name, tuple(sorted(labels.items()))]


def test_jobs_by_state_and_model_with_zeros_for_absent_states(add_job: Callable[..., Any]) -> None:
    for _ in range(3):
        add_job("ct-lung-seg", "queued")
    add_job("ct-lung-seg", "running")
    add_job("mr-brain-extract", "failed")
    samples = scrape(render(build_registry()).decode())
    assert value(samples, "pacs_hub_database_up") == 1
    assert value(samples, "pacs_hub_jobs", state="queued", model="ct-lung-seg") == 3
    assert value(samples, "pacs_hub_jobs", state="running", model="ct-lung-seg") == 1
    assert value(samples, "pacs_hub_jobs", state="succeeded", model="ct-lung-seg") == 0
    assert value(samples, "pacs_hub_jobs", state="failed", model="mr-brain-extract") == 1
    assert value(samples, "pacs_hub_jobs", state="queued", model="mr-brain-extract") == 0


def test_queue_depth_counts_queued_and_retrying_per_queue(add_job: Callable[..., Any]) -> None:
    add_job(state="queued", queue="gpu")
    add_job(state="retrying", queue="gpu")
    add_job(state="running", queue="gpu")
    add_job(state="queued")
    add_job(state="succeeded")
    samples = scrape(render(build_registry()).decode())
    assert value(samples, "pacs_hub_queue_depth", queue="gpu") == 2
    assert value(samples, "pacs_hub_queue_depth", queue="default") == 1


def test_stage_histogram_is_cumulative_over_finished_jobs(add_job: Callable[..., Any]) -> None:
    add_job(state="succeeded", timings={"load": 0.2, "inference": 1.5})
    add_job(state="succeeded", timings={"load": 0.3, "inference": 40.0})
    add_job(state="failed", timings={"load": 0.7, "inference": "n/a", "bogus": -1})
    add_job(state="running", timings={"load": 99.0})  # not finished: not counted
    samples = scrape(render(build_registry()).decode())

    def bucket(stage: str, le: str) -> float:
        return value(
            samples, "pacs_hub_job_stage_seconds_bucket", stage=stage, model="ct-lung-seg", le=le
        )

    assert bucket("load", "0.25") == 1
    assert bucket("load", "0.5") == 2
    assert bucket("load", "1.0") == 3
    assert bucket("load", "+Inf") == 3
    assert (
        value(samples, "pacs_hub_job_stage_seconds_count", stage="load", model="ct-lung-seg") == 3
    )
    assert value(
        samples, "pacs_hub_job_stage_seconds_sum", stage="load", model="ct-lung-seg"
    ) == pytest.approx(1.2)
    assert bucket("inference", "2.5") == 1
    assert bucket("inference", "30.0") == 1
    assert bucket("inference", "60.0") == 2
    counts = [bucket("load", le) for le in [repr(b) for b in STAGE_BUCKETS] + ["+Inf"]]
    assert counts == sorted(counts), "buckets must be cumulative"
    assert not any(labels for name, labels in samples if "bogus" in str(labels))


def test_database_down_reports_zero_and_keeps_process_metrics(
    add_job: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    from hub.metrics import JobsCollector

    def broken(self: JobsCollector) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(JobsCollector, "_job_metrics", broken)
    text = render(build_registry()).decode()
    assert "pacs_hub_database_up 0.0" in text
    assert "pacs_hub_jobs" not in text
    assert "process_cpu_seconds_total" in text


def test_stage_seconds_ignores_non_numbers() -> None:
    pairs = dict(stage_seconds({"a": 1, "b": True, "c": "2", "d": float("nan"), "e": -1, "f": 2.5}))
    assert pairs == {"a": 1.0, "f": 2.5}
    assert list(stage_seconds(["not", "a", "dict"])) == []


def test_stage_histogram_edges() -> None:
    histogram = StageHistogram((1.0, 2.0))
    for seconds in (1.0, 2.0, 2.5):
        histogram.observe(seconds)
    assert histogram.buckets() == [("1.0", 1.0), ("2.0", 2.0), ("+Inf", 3.0)]
    assert histogram.total == 5.5


def test_real_server_reads_rows_written_by_another_process(
    add_job: Callable[..., Any], hub_server: str
) -> None:
    """uvicorn in a subprocess sees rows this process wrote: metrics are per database."""
    add_job("ct-lung-seg", "succeeded", timings={"inference": 0.4})
    add_job("ct-lung-seg", "queued")
    health = httpx.get(hub_server + "/api/v1/health", timeout=10).json()
    assert health["status"] == "ok" and health["database"]["reachable"] is True
    samples = scrape(httpx.get(hub_server + "/metrics", timeout=10).text)
    assert value(samples, "pacs_hub_jobs", state="succeeded", model="ct-lung-seg") == 1
    assert value(samples, "pacs_hub_queue_depth", queue="default") == 1
    assert (
        value(samples, "pacs_hub_job_stage_seconds_count", stage="inference", model="ct-lung-seg")
        == 1
    )
    page = httpx.get(hub_server + "/", timeout=10, follow_redirects=True)  # the web app too
    assert page.status_code == 200 and "/accounts/login/" in str(page.url)
