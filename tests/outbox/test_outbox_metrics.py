"""C-STORE and outbox metrics computed from real rows (SQLite, or PostgreSQL when
PACS_HUB_DATABASE_URL says), read back through the Prometheus text format."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.metrics import build_registry, render

_serial = itertools.count(1)


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a fresh scrape keyed by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(render(build_registry()).decode())
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[name, tuple(sorted(labels.items()))]


@pytest.fixture
def add_item(hub_config: Any) -> Callable[..., Any]:
    """Insert one outbox item in ``state`` for a new job row."""
    from hub.dimse.models import OutboxItem
    from hub.jobs.models import Job

    def add(state: str) -> OutboxItem:
        series = f"1.2.826.0.1.3680043.8.498.77.{next(_serial)}"
        job = Job.objects.create(
            series_instance_uid=series, model_name="bright-test", model_version="1.0",
            idempotency_key=Job.key_for(series, "bright-test", "1.0"), state="succeeded",
        )
        return OutboxItem.objects.create(job=job, peer_name="pacs", state=state)

    return add


def test_outbox_items_by_state_with_zeros_and_backlog(add_item: Callable[..., Any]) -> None:
    samples = scrape()
    for state in ("pending", "sending", "sent", "dead", "cancelled"):
        assert value(samples, "pacs_hub_outbox_items", state=state) == 0
    assert value(samples, "pacs_hub_outbox_backlog") == 0
    for state in ("pending", "pending", "sending", "sent", "dead"):
        add_item(state)
    samples = scrape()
    assert value(samples, "pacs_hub_outbox_items", state="pending") == 2
    assert value(samples, "pacs_hub_outbox_items", state="sending") == 1
    assert value(samples, "pacs_hub_outbox_items", state="sent") == 1
    assert value(samples, "pacs_hub_outbox_items", state="dead") == 1
    assert value(samples, "pacs_hub_outbox_items", state="cancelled") == 0
    assert value(samples, "pacs_hub_outbox_backlog") == 3


def test_cstore_instances_and_bytes_by_source(hub_config: Any, tmp_path: Any) -> None:
    """Counted from the instance index (deltas: the session's database keeps other rows)."""
    from hub.storage.store import store_instance
    from hub.testing.dicom import write_series

    before = scrape()
    seeds = {source: f"metrics-{source}-{uuid.uuid4().hex}" for source in ("scp", "result")}
    sizes = {"scp": 0, "result": 0}
    for source, n in (("scp", 3), ("result", 2)):
        volume = np.zeros((n, 8, 8))
        for path in write_series(volume, tmp_path / source, seed=seeds[source]):
            sizes[source] += store_instance(path, source=source).size
    again = write_series(np.zeros((3, 8, 8)), tmp_path / "again", seed=seeds["scp"])
    store_instance(again[0], source="scp")  # the same instance again: counted once
    after = scrape()

    def delta(name: str, source: str) -> float:
        return value(after, name, source=source) - value(before, name, source=source)

    assert delta("pacs_hub_cstore_instances_total", "scp") == 3
    assert delta("pacs_hub_cstore_instances_total", "result") == 2
    assert delta("pacs_hub_cstore_bytes_total", "scp") == sizes["scp"]
    assert delta("pacs_hub_cstore_bytes_total", "result") == sizes["result"]
    for source in ("rest", "stow"):
        assert ("pacs_hub_cstore_instances_total", (("source", source),)) in after


def test_database_down_drops_these_metrics_but_not_the_page(
    hub_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    from hub.metrics import OutboxCollector, StorageCollector

    def broken(self: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(OutboxCollector, "_metrics", broken)
    monkeypatch.setattr(StorageCollector, "_metrics", broken)
    text = render(build_registry()).decode()
    assert "pacs_hub_outbox_backlog" not in text and "pacs_hub_cstore_bytes" not in text
    assert "pacs_hub_jobs" in text or "pacs_hub_database_up" in text
